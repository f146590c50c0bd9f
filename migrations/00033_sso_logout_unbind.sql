-- +goose Up
-- Issue 16. Signing out of a session that signed in through the council's provider also ends
-- it at the provider (RP-initiated logout), which wants the session's ID token back as
-- id_token_hint. It is kept sealed with the server key for its account, beside the session
-- (or the first sign-in waiting for its e-mailed code), so a dump of the database shows none.
-- Both tables already carry council_id and row-level security (00031).
ALTER TABLE sessions ADD COLUMN sso_id_token bytea;
ALTER TABLE sso_codes ADD COLUMN id_token bytea;

-- An administrator's removal of an account's SSO binding waits for a second person when the
-- account can read cases, like a reset of its credentials.
ALTER TABLE access_requests DROP CONSTRAINT access_requests_kind_check,
    ADD CONSTRAINT access_requests_kind_check CHECK (kind IN ('create', 'roles', 'reset', 'sso_unbind'));

-- +goose Down
ALTER TABLE access_requests DROP CONSTRAINT access_requests_kind_check,
    ADD CONSTRAINT access_requests_kind_check CHECK (kind IN ('create', 'roles', 'reset'));
ALTER TABLE sso_codes DROP COLUMN id_token;
ALTER TABLE sessions DROP COLUMN sso_id_token;
