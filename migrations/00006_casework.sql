-- +goose Up
-- Casework: the concern lifecycle, notes, investigations run allegation by allegation, and
-- identity disclosure. Text that could carry case content is ciphertext under a data key (the
-- concern's, or the investigation's own); what statistics and clocks need stays in clear.

ALTER TABLE concerns
    ADD COLUMN acknowledged_at   timestamptz,
    ADD COLUMN decided_at        timestamptz,   -- referred, accepted or declined
    ADD COLUMN closed_at         timestamptz,
    ADD COLUMN outcome           text CHECK (outcome IN ('referred', 'accepted', 'declined')),
    ADD COLUMN referred_to       text CHECK (referred_to IN ('route_holder', 'grievance', 'safeguarding', 'complaints', 'police')),
    ADD COLUMN feedback          bytea,         -- outcome fed back to the reporter, under the data key
    ADD COLUMN feedback_at       timestamptz,
    -- The clock the queue sorts by: acknowledgement while received, then feedback; NULL when closed.
    ADD COLUMN next_deadline     timestamptz,
    ADD COLUMN last_reporter_at  timestamptz,   -- newest reporter input (retention never shreds past it)
    ADD COLUMN shredded_at       timestamptz;
UPDATE concerns SET next_deadline = acknowledge_by;
-- Triage order (safeguarding first, then the nearest clock) as an index, so keyset pages are
-- index range scans however deep: (NOT safeguarding, next_deadline, id) > cursor.
CREATE INDEX concerns_triage ON concerns ((NOT safeguarding), next_deadline, id) WHERE closed_at IS NULL AND shredded_at IS NULL;
CREATE INDEX concerns_received ON concerns (received_at);

-- Every lifecycle step with its reason (ciphertext: reasons talk about the case).
CREATE TABLE concern_events (
    id          bigserial PRIMARY KEY,
    concern_id  bigint NOT NULL REFERENCES concerns (id) ON DELETE CASCADE,
    user_id     bigint REFERENCES users (id),
    action      text NOT NULL,
    reason      bytea,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX concern_events_concern ON concern_events (concern_id, id);

CREATE TABLE notes (
    id          bigserial PRIMARY KEY,
    concern_id  bigint NOT NULL REFERENCES concerns (id) ON DELETE CASCADE,
    user_id     bigint NOT NULL REFERENCES users (id),
    personal    boolean NOT NULL,     -- true: only the author ever sees it
    body        bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX notes_concern ON notes (concern_id, id);

CREATE TABLE investigations (
    id                        bigserial PRIMARY KEY,
    reference                 text NOT NULL UNIQUE,
    wrapped_key               bytea NOT NULL,
    title                     bytea NOT NULL,
    terms_of_reference        bytea NOT NULL,
    commissioning_officer_id  bigint NOT NULL REFERENCES users (id),
    investigating_officer_id  bigint REFERENCES users (id),
    investigating_officer_ext bytea,   -- an external investigator's name
    due_at                    date NOT NULL,
    status                    text NOT NULL DEFAULT 'commissioned'
                              CHECK (status IN ('commissioned', 'in_progress', 'reported', 'closed')),
    conclusion                bytea,
    created_at                timestamptz NOT NULL DEFAULT now(),
    reported_at               timestamptz,
    closed_at                 timestamptz,
    CHECK (investigating_officer_id IS NOT NULL OR investigating_officer_ext IS NOT NULL)
);

CREATE TABLE investigation_concerns (
    investigation_id bigint NOT NULL REFERENCES investigations (id) ON DELETE CASCADE,
    concern_id       bigint NOT NULL REFERENCES concerns (id) ON DELETE CASCADE,
    linked_by        bigint REFERENCES users (id),
    linked_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (investigation_id, concern_id)
);
CREATE INDEX investigation_concerns_concern ON investigation_concerns (concern_id);

CREATE TABLE allegations (
    id                bigserial PRIMARY KEY,
    investigation_id  bigint NOT NULL REFERENCES investigations (id) ON DELETE CASCADE,
    number            integer NOT NULL CHECK (number > 0),
    source_concern_id bigint REFERENCES concerns (id),
    text              bytea NOT NULL,
    evidence          bytea,
    finding           text CHECK (finding IN ('upheld', 'partly_upheld', 'not_upheld', 'no_finding')),
    finding_text      bytea,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (investigation_id, number)
);

CREATE TABLE recommendations (
    id                bigserial PRIMARY KEY,
    investigation_id  bigint NOT NULL REFERENCES investigations (id) ON DELETE CASCADE,
    text              bytea NOT NULL,
    owner             bytea NOT NULL,
    due_at            date NOT NULL,
    status            text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'in_progress', 'done')),
    created_at        timestamptz NOT NULL DEFAULT now(),
    done_at           timestamptz
);

CREATE TABLE identity_requests (
    id               bigserial PRIMARY KEY,
    concern_id       bigint NOT NULL REFERENCES concerns (id) ON DELETE CASCADE,
    requester_id     bigint NOT NULL REFERENCES users (id),
    reason           bytea NOT NULL,
    reporter_told    boolean NOT NULL,
    no_notice_reason bytea,          -- the legal reason for not telling the reporter first
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'refused')),
    decided_by       bigint REFERENCES users (id),
    decision_reason  bytea,
    created_at       timestamptz NOT NULL DEFAULT now(),
    decided_at       timestamptz,
    CHECK (decided_by IS NULL OR decided_by <> requester_id)
);
CREATE INDEX identity_requests_concern ON identity_requests (concern_id);

-- Reminders sent, one row per concern, clock and stage, so a reminder goes out once even with
-- two job runners.
CREATE TABLE reminders (
    concern_id  bigint NOT NULL REFERENCES concerns (id) ON DELETE CASCADE,
    clock       text NOT NULL,
    stage       text NOT NULL CHECK (stage IN ('due_soon', 'breached')),
    sent_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (concern_id, clock, stage)
);

-- +goose Down
DROP TABLE reminders, identity_requests, recommendations, allegations, investigation_concerns,
    investigations, notes, concern_events;
DROP INDEX concerns_triage;
DROP INDEX concerns_received;
ALTER TABLE concerns DROP COLUMN acknowledged_at, DROP COLUMN decided_at, DROP COLUMN closed_at,
    DROP COLUMN outcome, DROP COLUMN referred_to, DROP COLUMN feedback, DROP COLUMN feedback_at,
    DROP COLUMN next_deadline, DROP COLUMN last_reporter_at, DROP COLUMN shredded_at;
