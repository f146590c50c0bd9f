-- +goose Up
-- Concerns and their mailbox. Only what routing and the queue need is in clear; summary,
-- details, names, messages, file names and file bodies are ciphertext under a per-concern data
-- key (wrapped_key), and the reporter's identity is sealed to the custodians. A dump of these
-- tables reveals no content and no identity.
CREATE TABLE concerns (
    id                 bigserial PRIMARY KEY,
    reference          text NOT NULL UNIQUE CHECK (reference ~ '^C-[0-9A-Z]{4}-[0-9A-Z]{4}$'),
    channel            text NOT NULL CHECK (channel IN ('web', 'councillor', 'recorded')),
    mode               text NOT NULL CHECK (mode IN ('anonymous', 'confidential', 'open')),
    service_area       text NOT NULL,
    category           text NOT NULL,
    safeguarding       boolean NOT NULL,
    status             text NOT NULL DEFAULT 'received'
                       CHECK (status IN ('received', 'acknowledged', 'referred', 'accepted', 'declined', 'closed')),
    language           text NOT NULL CHECK (language IN ('en', 'cy')),
    -- HMAC of the receipt under a server key: O(1) lookup, and the receipt itself is never stored.
    receipt_hash       bytea UNIQUE,
    -- The data key, age-encrypted to the server key. NULL once crypto-shredded.
    wrapped_key        bytea,
    content            bytea,          -- sealed JSON: summary, details, named people
    identity_sealed    bytea,          -- age ciphertext to the custodians (confidential, open)
    identity_recipients text[] NOT NULL DEFAULT '{}',
    identity_open      bytea,          -- open mode: identity under the data key, for handlers
    -- Keyed hashes of the directory people named in the concern, so conflict exclusion works
    -- without decrypting anything and a dump does not say who was named.
    named_keys         bytea[] NOT NULL DEFAULT '{}',
    route_rule         text NOT NULL,
    route_version      text NOT NULL,
    route              jsonb NOT NULL, -- the immutable decision: holders, explanation en/cy
    -- Reporter-side times are kept to the hour: precise timing can be matched against door or
    -- network logs to unmask an anonymous reporter.
    received_at        timestamptz NOT NULL,
    acknowledge_by     timestamptz NOT NULL,
    feedback_by        timestamptz NOT NULL,
    created_by         bigint REFERENCES users (id)
);
CREATE INDEX concerns_queue ON concerns (status, safeguarding DESC, acknowledge_by, id);

CREATE TABLE messages (
    id          bigserial PRIMARY KEY,
    concern_id  bigint NOT NULL REFERENCES concerns (id) ON DELETE CASCADE,
    author      text NOT NULL CHECK (author IN ('reporter', 'staff', 'system')),
    user_id     bigint REFERENCES users (id),
    body        bytea NOT NULL,          -- ciphertext under the concern's data key
    detriment   boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL
);
CREATE INDEX messages_concern ON messages (concern_id, id);

-- Blobs are stored in 1 MiB chunks so a large file streams in and out in constant memory and
-- is written in the same transaction as the row that points to it.
CREATE TABLE blobs (
    id          bigserial PRIMARY KEY,
    size        bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT date_trunc('hour', now())  -- reporter uploads: to the hour
);
CREATE TABLE blob_chunks (
    blob_id     bigint NOT NULL REFERENCES blobs (id) ON DELETE CASCADE,
    seq         integer NOT NULL,
    data        bytea NOT NULL,
    PRIMARY KEY (blob_id, seq)
);

CREATE TABLE attachments (
    id          bigserial PRIMARY KEY,
    concern_id  bigint NOT NULL REFERENCES concerns (id) ON DELETE CASCADE,
    author      text NOT NULL CHECK (author IN ('reporter', 'staff')),
    name        bytea NOT NULL,          -- display name, ciphertext under the data key
    size        bigint NOT NULL,         -- plaintext size
    blob_id     bigint NOT NULL REFERENCES blobs (id),
    created_at  timestamptz NOT NULL
);
CREATE INDEX attachments_concern ON attachments (concern_id, id);

-- +goose Down
DROP TABLE attachments;
DROP TABLE blob_chunks;
DROP TABLE blobs;
DROP TABLE messages;
DROP TABLE concerns;
