-- +goose Up
-- Auditors are e-mailed the audit log's signed checkpoints, so a copy lives in their mailboxes,
-- outside the server: the one kind of notification with a body of its own. A checkpoint is an
-- origin, a count, a root hash and signatures; it carries nothing about any case.
ALTER TABLE notifications ADD COLUMN checkpoint text
    CHECK (checkpoint IS NULL OR (kind = 'checkpoint' AND length(checkpoint) <= 4000));

-- +goose Down
DELETE FROM notifications WHERE kind = 'checkpoint';
ALTER TABLE notifications DROP COLUMN checkpoint;
