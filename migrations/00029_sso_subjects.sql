-- +goose Up
-- Issue 16: staff single sign-on with the council's OpenID Connect provider. SSO signs in only
-- accounts that exist: the first time, the person proves the account is theirs with a code
-- e-mailed to it, and the provider's subject is bound to the account; from then on the
-- subject alone finds it (for Entra ID the subject is "tid/oid", never the e-mail address,
-- which a tenant admin can change).
CREATE TABLE sso_subjects (
    issuer   text NOT NULL CHECK (length(issuer) BETWEEN 1 AND 500),
    subject  text NOT NULL CHECK (length(subject) BETWEEN 1 AND 300),
    user_id  bigint NOT NULL REFERENCES users (id),
    bound_at timestamptz NOT NULL,
    PRIMARY KEY (issuer, subject),
    UNIQUE (issuer, user_id)
);

-- A first sign-in waiting for its e-mailed code. id is a MAC of the token in the browser's
-- cookie and code a MAC of the code, both under the server key: neither is kept in clear, and
-- a writer of the database cannot plant a code of their own. Short-lived, few attempts.
CREATE TABLE sso_codes (
    id         bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id),
    issuer     text NOT NULL,
    subject    text NOT NULL,
    code       bytea NOT NULL,
    expires_at timestamptz NOT NULL,
    attempts   integer NOT NULL DEFAULT 0 CHECK (attempts >= 0)
);
CREATE INDEX sso_codes_user ON sso_codes (user_id);

-- How a session signed in, for the record and the audit of who could reach what.
ALTER TABLE sessions ADD COLUMN method text NOT NULL DEFAULT 'password' CHECK (method IN ('password', 'sso'));

-- +goose Down
ALTER TABLE sessions DROP COLUMN method;
DROP TABLE sso_codes;
DROP TABLE sso_subjects;
