-- +goose Up
-- Issue 15: the portal serves as a role apart from the owner that runs these migrations, so
-- whoever holds the serving connection cannot change the schema, disable the audit trigger or
-- edit and delete audit events. The serving role's name is configuration (roles belong to the
-- cluster, not the database): internal/database passes it in the candour.serving_role setting.
-- Tables and sequences that later migrations create (as the owner) get row access for the
-- serving role by default; a later table that must be append-only revokes UPDATE and DELETE
-- itself, as audit_events does here. goose_db_version is read-only to the serving role: it
-- only checks that the schema is current.
-- +goose StatementBegin
DO $$
DECLARE
    serving text := current_setting('candour.serving_role', true);
BEGIN
    IF coalesce(serving, '') = '' THEN
        RAISE EXCEPTION 'candour.serving_role is not set: migrate with candour migrate';
    END IF;
    IF serving = current_user THEN
        RAISE EXCEPTION 'the serving role % is the owner running the migrations', serving;
    END IF;
    -- PostgreSQL 15 already keeps CREATE on public from PUBLIC; a cluster upgraded from an
    -- older version may not.
    REVOKE CREATE ON SCHEMA public FROM PUBLIC;
    EXECUTE format('GRANT USAGE ON SCHEMA public TO %I', serving);
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO %I', serving);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO %I', serving);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I', serving);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO %I', serving);
    EXECUTE format('REVOKE UPDATE, DELETE ON audit_events FROM %I', serving);
    EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON goose_db_version FROM %I', serving);
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DO $$
DECLARE
    serving text := current_setting('candour.serving_role'); -- unset: an error naming it
BEGIN
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM %I', serving);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM %I', serving);
    EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA public FROM %I', serving);
    EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM %I', serving);
    EXECUTE format('REVOKE USAGE ON SCHEMA public FROM %I', serving);
END
$$;
-- +goose StatementEnd
