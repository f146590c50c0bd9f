-- +goose Up
-- Staff sign-in (issue 4): argon2id password hashes, TOTP second factor with one-time recovery
-- codes, per-account backoff and lock, and server-side sessions so a token can be revoked at
-- once (logout, disable, password or role change). Conflicts and access grants are per concern.
ALTER TABLE users
    ADD COLUMN password_hash        text,
    -- Base32 TOTP secret. NULL until enrolled (or after an admin reset of 2FA).
    ADD COLUMN totp_secret          text,
    ADD COLUMN totp_enabled         boolean NOT NULL DEFAULT false,
    -- The last TOTP time step accepted: a code cannot be replayed within its window.
    ADD COLUMN totp_last_step       bigint NOT NULL DEFAULT 0,
    -- SHA-256 of each unused recovery code; a used code is removed.
    ADD COLUMN recovery_codes       bytea[] NOT NULL DEFAULT '{}',
    ADD COLUMN failed_attempts      integer NOT NULL DEFAULT 0 CHECK (failed_attempts >= 0),
    ADD COLUMN locked_until         timestamptz,
    ADD COLUMN must_change_password boolean NOT NULL DEFAULT false,
    ADD COLUMN password_changed_at  timestamptz;

-- One row per sign-in. A token is honoured only while its session is live: not revoked, seen
-- within the idle timeout, and younger than the absolute maximum.
CREATE TABLE sessions (
    id            text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
    user_id       bigint NOT NULL REFERENCES users (id),
    -- 'full' after password and second factor; 'setup' may only enrol TOTP or change the
    -- password (first sign-in, admin reset).
    stage         text NOT NULL CHECK (stage IN ('full', 'setup')),
    csrf          text NOT NULL,
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz,
    revoke_reason text
);
CREATE INDEX sessions_user ON sessions (user_id) WHERE revoked_at IS NULL;

-- A handler who declares a conflict on a concern loses access to it for good.
CREATE TABLE conflicts (
    concern_id  bigint NOT NULL REFERENCES concerns (id) ON DELETE CASCADE,
    user_id     bigint NOT NULL REFERENCES users (id),
    reason      bytea NOT NULL,  -- under the concern's data key: it may describe people
    declared_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (concern_id, user_id)
);

-- Access granted to (or transferred to) a handler beyond the route holders. Revoked grants
-- stay for the record.
CREATE TABLE case_access (
    id          bigserial PRIMARY KEY,
    concern_id  bigint NOT NULL REFERENCES concerns (id) ON DELETE CASCADE,
    user_id     bigint NOT NULL REFERENCES users (id),
    granted_by  bigint REFERENCES users (id),
    reason      bytea,           -- under the concern's data key
    granted_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE UNIQUE INDEX case_access_live ON case_access (concern_id, user_id) WHERE revoked_at IS NULL;

-- +goose Down
DROP TABLE case_access;
DROP TABLE conflicts;
DROP TABLE sessions;
ALTER TABLE users
    DROP COLUMN password_hash, DROP COLUMN totp_secret, DROP COLUMN totp_enabled,
    DROP COLUMN totp_last_step, DROP COLUMN recovery_codes, DROP COLUMN failed_attempts,
    DROP COLUMN locked_until, DROP COLUMN must_change_password, DROP COLUMN password_changed_at;
