-- +goose Up
-- The audit log as a Merkle tree (issue 15), as Certificate Transparency keeps one: leaf i is
-- the event with seq i+1, and these are golang.org/x/mod/sumdb/tlog's stored hashes, indexed as
-- tlog numbers them. They let the portal prove to a witness that a new checkpoint extends the
-- last one it cosigned. They are a cache, not a trust anchor: verify recomputes the tree from
-- the events and checks it against signed, witnessed checkpoints kept outside the database.
-- Insert-only like audit_events: the serving role needs INSERT and SELECT, nothing more.
CREATE TABLE audit_tree (
    idx   bigint PRIMARY KEY CHECK (idx >= 0),
    hash  bytea NOT NULL CHECK (length(hash) = 32)
);

-- The refusal names the table it guards, now that it guards two.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;
-- +goose StatementEnd

CREATE TRIGGER audit_tree_no_change BEFORE UPDATE OR DELETE ON audit_tree
    FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
CREATE TRIGGER audit_tree_no_truncate BEFORE TRUNCATE ON audit_tree
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
REVOKE UPDATE, DELETE, TRUNCATE ON audit_tree FROM PUBLIC;
-- 00025's default privileges gave the serving role row access; like audit_events, it keeps
-- INSERT and SELECT only.
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE format('REVOKE UPDATE, DELETE ON audit_tree FROM %I', current_setting('candour.serving_role'));
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP TABLE audit_tree;
