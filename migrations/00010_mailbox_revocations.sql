-- +goose Up
-- Mailbox tokens closed before they expire. Kept by token id until the hour after the token's
-- own expiry (to the hour: when a reporter closed their mailbox is not recorded).
CREATE TABLE mailbox_revocations (
    jti          text PRIMARY KEY CHECK (length(jti) <= 64),
    keep_until   timestamptz NOT NULL
);

-- +goose Down
DROP TABLE mailbox_revocations;
