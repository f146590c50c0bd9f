-- +goose Up
-- A notification the mail server keeps refusing is retried with a growing pause for at least a
-- day, then marked failed: visible, never dropped in silence (it used to stop after 10 tries,
-- 50 seconds, leaving no trace but a count).
ALTER TABLE notifications ADD COLUMN failed_at timestamptz;
DROP INDEX notifications_pending;
CREATE INDEX notifications_pending ON notifications (not_before, id) WHERE sent_at IS NULL AND failed_at IS NULL;

-- +goose Down
DROP INDEX notifications_pending;
CREATE INDEX notifications_pending ON notifications (not_before, id) WHERE sent_at IS NULL;
ALTER TABLE notifications DROP COLUMN failed_at;
