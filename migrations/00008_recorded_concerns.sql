-- +goose Up
-- A concern the Monitoring Officer wrote down from a phone call or a meeting stays unapproved
-- until the reporter has read the record in their mailbox and approved it.
ALTER TABLE concerns ADD COLUMN record_approved_at timestamptz;

-- +goose Down
ALTER TABLE concerns DROP COLUMN record_approved_at;
