-- +goose Up
-- Staff accounts. Minimal until the staff issue adds passwords, 2FA and sessions; custodians
-- need their age recipient here so identities can be sealed to them.
CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    email         text NOT NULL UNIQUE CHECK (length(email) BETWEEN 3 AND 254),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    roles         text[] NOT NULL DEFAULT '{}',
    service_areas text[] NOT NULL DEFAULT '{}',
    age_recipient text CHECK (age_recipient IS NULL OR age_recipient LIKE 'age1%'),
    language      text NOT NULL DEFAULT 'en' CHECK (language IN ('en', 'cy')),
    status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled')),
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE users;
