-- +goose Up
-- A reporter in open or confidential mode may leave an e-mail address, only to be told "there
-- is a new message in your mailbox". The address is sealed under the concern's data key, so a
-- dump shows nothing and shredding the concern's key shreds it. It lives apart from concerns:
-- only the notifier's query reads it (no page or API loads a concern row with it), and filing
-- a report without one writes nothing more.
CREATE TABLE reporter_notices (
    concern_id  bigint PRIMARY KEY REFERENCES concerns (id) ON DELETE CASCADE,
    address     bytea NOT NULL
);
-- The reporter's notification names no recipient: the notifier opens the sealed address when
-- it sends, so the outbox never holds it in clear. Every other kind still names one.
ALTER TABLE notifications ALTER COLUMN recipient DROP NOT NULL,
    ADD CONSTRAINT notifications_recipient_named CHECK ((recipient IS NULL) = (kind = 'reporter_new_message'));

-- +goose Down
DELETE FROM notifications WHERE kind = 'reporter_new_message';
ALTER TABLE notifications DROP CONSTRAINT notifications_recipient_named, ALTER COLUMN recipient SET NOT NULL;
DROP TABLE reporter_notices;
