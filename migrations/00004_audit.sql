-- +goose Up
-- The audit trail (issue 4, DESIGN §4). Each event carries the SHA-256 of the previous event
-- and of its own canonical form (internal/audit), so an edit, deletion or reordering breaks the
-- chain and `candour audit verify` names the first bad event. Appends are serialised with a
-- transaction-level advisory lock so seq has no gaps and the chain no forks. The application
-- may only INSERT: a trigger refuses UPDATE, DELETE and TRUNCATE for every role (a superuser can
-- still get round it, which is what the chain is for).
CREATE TABLE audit_events (
    seq          bigint PRIMARY KEY CHECK (seq >= 1),
    at           timestamptz NOT NULL,
    actor_id     bigint,                      -- the staff user, NULL for reporter or system
    actor        text NOT NULL,               -- 'user:<id>', 'reporter', 'system', 'cli'
    action       text NOT NULL,
    object_type  text NOT NULL DEFAULT '',
    object_id    text NOT NULL DEFAULT '',
    details      jsonb NOT NULL DEFAULT '{}', -- never case content
    prev_hash    bytea NOT NULL CHECK (length(prev_hash) = 32),
    hash         bytea NOT NULL UNIQUE CHECK (length(hash) = 32)
);
CREATE INDEX audit_events_actor ON audit_events (actor_id, seq);
CREATE INDEX audit_events_object ON audit_events (object_type, object_id, seq);
CREATE INDEX audit_events_at ON audit_events (at);

-- +goose StatementBegin
CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM PUBLIC;

-- +goose Down
DROP TABLE audit_events;
DROP FUNCTION audit_events_append_only();
