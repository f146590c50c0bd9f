-- +goose Up
-- Accounts that can read cases need two people (issue 15). An administrator may only propose a
-- change that widens someone's access to cases; it stays inactive in access_requests until the
-- Monitoring Officer or deputy, a different person, approves it.
--
-- An account proposed but not yet approved is 'pending': it holds no role and cannot sign in.
ALTER TABLE users DROP CONSTRAINT users_status_check,
    ADD CONSTRAINT users_status_check CHECK (status IN ('active', 'disabled', 'pending')),
    -- The TOTP secret sealed with the server's data key, bound to the account id: a database
    -- dump alone no longer gives anyone's second factor. totp_secret (plain) is emptied into it
    -- at start.
    ADD COLUMN totp_sealed bytea;

CREATE TABLE access_requests (
    id            bigserial PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users (id),
    -- create: a new account with these roles; roles: replace roles and areas with these;
    -- reset: new credentials through an enrolment link to the account's own address.
    kind          text NOT NULL CHECK (kind IN ('create', 'roles', 'reset')),
    roles         text[] NOT NULL DEFAULT '{}',
    service_areas text[] NOT NULL DEFAULT '{}',
    proposed_by   bigint NOT NULL REFERENCES users (id),
    proposed_at   timestamptz NOT NULL DEFAULT now(),
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'refused')),
    decided_by    bigint REFERENCES users (id),
    decided_at    timestamptz,
    -- Two people, whatever the code above does.
    CHECK (decided_by IS NULL OR (decided_by <> proposed_by AND decided_by <> user_id)),
    CHECK ((status = 'pending') = (decided_by IS NULL))
);
-- One open proposal per account: a second would race the first to approval.
CREATE UNIQUE INDEX access_requests_open ON access_requests (user_id) WHERE status = 'pending';

-- Single-use enrolment links: the person sets their own password and second factor. Only the
-- SHA-256 of the token (256 random bits) is kept.
CREATE TABLE enrolments (
    token_hash bytea PRIMARY KEY,
    user_id    bigint NOT NULL REFERENCES users (id),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz
);
CREATE INDEX enrolments_user ON enrolments (user_id) WHERE used_at IS NULL;

-- The enrolment link travels through the outbox sealed with the server key and bound to the
-- recipient, and is emptied once sent.
ALTER TABLE notifications ADD COLUMN sealed_link bytea;

-- +goose Down
ALTER TABLE notifications DROP COLUMN sealed_link;
DROP TABLE enrolments;
DROP TABLE access_requests;
UPDATE users SET status = 'disabled' WHERE status = 'pending';
ALTER TABLE users DROP COLUMN totp_sealed, DROP CONSTRAINT users_status_check,
    ADD CONSTRAINT users_status_check CHECK (status IN ('active', 'disabled'));
