-- +goose Up
-- Evidence the reporter has not yet sent (issue 17): an upload is cleaned and sealed, then held
-- until the reporter has seen what cleaning found and removed and pressed Send. A pending file
-- counts against the mailbox quota but staff never see it; one not sent is swept after a day.
-- findings is that report, sealed under the concern's key, and cleared once sent: it describes
-- the original. original_of marks a file kept as sent, metadata and all, at the reporter's
-- request, pointing at its cleaned copy; both are sent or discarded together. Columns only, on
-- an existing table (council_id and row-level security land on every table in 00031).
ALTER TABLE attachments
    ADD COLUMN pending boolean NOT NULL DEFAULT false,
    ADD COLUMN findings bytea,
    ADD COLUMN original_of bigint REFERENCES attachments (id) ON DELETE CASCADE,
    ADD CONSTRAINT attachments_findings_pending CHECK (findings IS NULL OR pending);
CREATE INDEX attachments_pending ON attachments (created_at) WHERE pending;
CREATE UNIQUE INDEX attachments_original_of ON attachments (original_of);

-- +goose Down
DROP INDEX attachments_original_of;
DROP INDEX attachments_pending;
ALTER TABLE attachments DROP CONSTRAINT attachments_findings_pending,
    DROP COLUMN original_of, DROP COLUMN findings, DROP COLUMN pending;
