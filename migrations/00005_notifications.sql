-- +goose Up
-- Outbox of e-mails to staff. Written in the same transaction as the change that causes it, sent
-- by a background job (FOR UPDATE SKIP LOCKED, so two portal instances never send one twice).
-- It holds a reference and a link only: never concern content, never a reporter's identity.
CREATE TABLE notifications (
    id           bigserial PRIMARY KEY,
    recipient    text NOT NULL CHECK (length(recipient) BETWEEN 3 AND 254),
    kind         text NOT NULL,
    concern_id   bigint REFERENCES concerns (id) ON DELETE CASCADE,
    reference    text NOT NULL,
    dedupe_key   text UNIQUE,          -- e.g. reminder:<concern>:<clock>:<stage>, so a job retried never duplicates
    -- To the hour, and not sent before not_before: a "routed" e-mail sent the second a report
    -- arrives would date the report in every mail server's log.
    created_at   timestamptz NOT NULL DEFAULT date_trunc('hour', now()),
    not_before   timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz,
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text
);
CREATE INDEX notifications_pending ON notifications (not_before, id) WHERE sent_at IS NULL;

-- +goose Down
DROP TABLE notifications;
