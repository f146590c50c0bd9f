-- +goose Up
-- Issue 20: the queue of staff other than the Monitoring Officer and deputy. Their condition (a
-- route naming them, in their areas for a service lead; a referral; the hub) was a jsonb
-- containment tested on every open concern in queue order: under row-level security it is not
-- leakproof, so no index could answer it, and a service lead's page matching nothing read all
-- 300,000 open concerns (623 ms p99 at 1,000,000). Here each open concern has one row per way it
-- is held, in one index in queue order within the holder, carrying the queue's filters and the
-- named-person exclusion: the queue reads each of the viewer's holders' part of it in order and
-- stops at the page (store.triageQuery).
--
-- A holder key says which way: 'route:<e-mail>' for a route element with an e-mail (the only
-- way a service lead's areas apply), 'referred:<e-mail>' for the directory holder a concern was
-- referred to, 'hub' for a route to the safeguarding hub or a referral to it. E-mails are
-- trimmed and lower-cased, as access compares them (strings.EqualFold of the trimmed address).
-- Grants are not here: case_access is read by user (index below).
--
-- Only triggers on concerns write it, as the owner (SECURITY DEFINER): the serving role may only
-- read it, so no bug in the portal can add a holder row and with it a concern to someone's queue.
CREATE TABLE concern_holders (
    council_id       bigint NOT NULL DEFAULT NULLIF(current_setting('candour.council', true), '')::bigint,
    holder           text NOT NULL,
    routine          boolean NOT NULL, -- NOT safeguarding: safeguarding concerns come first
    next_deadline    timestamptz NOT NULL, -- 'infinity' for no clock: last, as NULL is in the queue
    public_id        uuid NOT NULL,
    concern_id       bigint NOT NULL,
    status           text NOT NULL,
    route_rule       text,
    service_area     text,
    channel          text NOT NULL,
    awaiting_council boolean NOT NULL,
    named_keys       bytea[] NOT NULL
);
ALTER TABLE concern_holders ENABLE ROW LEVEL SECURITY;
ALTER TABLE concern_holders FORCE ROW LEVEL SECURITY;
CREATE POLICY council ON concern_holders
    USING (council_id = NULLIF(current_setting('candour.council', true), '')::bigint);
CREATE POLICY whole_backup ON concern_holders FOR SELECT TO pg_database_owner
    USING (current_setting('candour.all_councils', true) = 'on');
-- +goose StatementBegin
DO $$
BEGIN
    EXECUTE format('REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON concern_holders FROM %I',
        current_setting('candour.serving_role'));
END
$$;
-- +goose StatementEnd

-- The holder keys of a concern, as access.isRouteHolder and access.isReferee read its columns.
-- +goose StatementBegin
CREATE FUNCTION concern_holder_keys(route jsonb, referred_email text, referred_to text) RETURNS SETOF text
LANGUAGE sql IMMUTABLE ROWS 2 AS $$
    SELECT 'route:' || lower(btrim(e->>'email'))
    FROM jsonb_array_elements(CASE WHEN jsonb_typeof(route->'route') = 'array' THEN route->'route' END) e
    WHERE btrim(e->>'email') <> ''
    UNION
    SELECT 'hub' WHERE referred_to = 'safeguarding' OR route->'route' @> '[{"role": "safeguarding_hub"}]'
    UNION
    SELECT 'referred:' || lower(btrim(referred_email)) WHERE btrim(referred_email) <> ''
$$;
-- +goose StatementEnd

-- A concern's holder rows (none once it is closed or shredded), and the removal of those an old
-- version of it had: every writer of the table goes through these two.
-- +goose StatementBegin
CREATE FUNCTION concern_holder_rows(c concerns) RETURNS SETOF concern_holders
LANGUAGE sql STABLE AS $$
    SELECT c.council_id, k.holder, NOT c.safeguarding, coalesce(c.next_deadline, 'infinity'), c.public_id, c.id,
        c.status, c.route_rule, c.service_area, c.channel, c.awaiting_council, c.named_keys
    FROM concern_holder_keys(c.route, c.referred_email, c.referred_to) k (holder)
    WHERE c.closed_at IS NULL AND c.shredded_at IS NULL
$$;
-- +goose StatementEnd
-- Key by key, so each is a lookup in the index whatever the planner would guess of a
-- transition table joined to a set-returning function (a join it planned over the whole table
-- took minutes for 1,500 updated concerns).
-- +goose StatementBegin
CREATE FUNCTION concern_holders_forget(o concerns) RETURNS void
LANGUAGE sql AS $$
    DELETE FROM concern_holders h WHERE h.council_id = o.council_id
        AND h.holder = ANY(ARRAY(SELECT concern_holder_keys(o.route, o.referred_email, o.referred_to)))
        AND h.routine = NOT o.safeguarding AND h.next_deadline = coalesce(o.next_deadline, 'infinity')
        AND h.public_id = o.public_id
        AND o.closed_at IS NULL AND o.shredded_at IS NULL
$$;
-- +goose StatementEnd

-- Statement triggers with transition tables, like the statistics': a batch of filings
-- (insert_concerns) costs one call. An update touches only the concerns whose holder rows
-- change; next_deadline is final here (the BEFORE trigger of 00022 has set it).
-- +goose StatementBegin
CREATE FUNCTION concern_holders_inserted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  INSERT INTO concern_holders SELECT h.* FROM new_rows n, concern_holder_rows(n) h;
  RETURN NULL;
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION concern_holders_updated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  changed bigint[] := ARRAY(SELECT o.id FROM old_rows o JOIN new_rows n ON n.id = o.id
    WHERE (o.route, o.referred_email, o.referred_to, o.closed_at, o.shredded_at, o.safeguarding, o.next_deadline,
           o.status, o.route_rule, o.service_area, o.channel, o.awaiting_council, o.named_keys)
        IS DISTINCT FROM (n.route, n.referred_email, n.referred_to, n.closed_at, n.shredded_at, n.safeguarding,
           n.next_deadline, n.status, n.route_rule, n.service_area, n.channel, n.awaiting_council, n.named_keys));
BEGIN
  IF cardinality(changed) = 0 THEN
    RETURN NULL;
  END IF;
  PERFORM concern_holders_forget(o) FROM old_rows o JOIN unnest(changed) c (id) USING (id);
  INSERT INTO concern_holders SELECT h.* FROM new_rows n JOIN unnest(changed) c (id) USING (id), concern_holder_rows(n) h;
  RETURN NULL;
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION concern_holders_deleted() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  PERFORM concern_holders_forget(o) FROM old_rows o;
  RETURN NULL;
END
$$;
-- +goose StatementEnd
-- TRUNCATE fires no delete trigger: empty the holders with it.
-- +goose StatementBegin
CREATE FUNCTION concern_holders_truncated() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
BEGIN
  TRUNCATE concern_holders;
  RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER concern_holders_inserted AFTER INSERT ON concerns
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION concern_holders_inserted();
CREATE TRIGGER concern_holders_updated AFTER UPDATE ON concerns
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION concern_holders_updated();
CREATE TRIGGER concern_holders_deleted AFTER DELETE ON concerns
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION concern_holders_deleted();
CREATE TRIGGER concern_holders_truncated AFTER TRUNCATE ON concerns
    FOR EACH STATEMENT EXECUTE FUNCTION concern_holders_truncated();

-- The open concerns already filed, council by council: the policy lets a row in only in the
-- transaction's council.
-- +goose StatementBegin
DO $$
DECLARE
    council bigint;
BEGIN
    FOR council IN SELECT id FROM councils ORDER BY id
    LOOP
        PERFORM set_config('candour.council', council::text, true);
        INSERT INTO concern_holders SELECT h.* FROM concerns c, concern_holder_rows(c) h WHERE c.council_id = council;
    END LOOP;
    PERFORM set_config('candour.council', '', true);
END
$$;
-- +goose StatementEnd

-- The one index, built once the rows are in (packed, and faster than row by row). Every filing
-- writes an entry per holder. No key on concern_id: the triggers find a concern's old rows by
-- this index's whole key, worked out from the old row.
CREATE INDEX concern_holders_queue ON concern_holders (council_id, holder, routine, next_deadline, public_id)
    INCLUDE (concern_id, status, route_rule, service_area, channel, awaiting_council, named_keys);

-- The queue's grants branch reads a user's live grants: by user, not by concern.
CREATE INDEX case_access_user ON case_access (council_id, user_id) INCLUDE (concern_id) WHERE revoked_at IS NULL;

-- Only the Monitoring Officer's queue reads concerns_triage now, and it never reads the route
-- or the referral: every filing writes a narrower entry. named_keys stays, for its exclusion.
DROP INDEX concerns_triage;
CREATE INDEX concerns_triage ON concerns (council_id, (NOT safeguarding), next_deadline, public_id)
    INCLUDE (id, reference, channel, mode, service_area, category, safeguarding, status, route_rule, received_at,
        acknowledge_by, decide_by, feedback_by, acknowledged_at, decided_at, feedback_at, awaiting_council,
        named_keys)
    WHERE closed_at IS NULL AND shredded_at IS NULL;

-- +goose Down
DROP INDEX concerns_triage;
CREATE INDEX concerns_triage ON concerns (council_id, (NOT safeguarding), next_deadline, public_id)
    INCLUDE (id, reference, channel, mode, service_area, category, safeguarding, status, route_rule, received_at,
        acknowledge_by, decide_by, feedback_by, acknowledged_at, decided_at, feedback_at, awaiting_council,
        named_keys, route, referred_email, referred_to)
    WHERE closed_at IS NULL AND shredded_at IS NULL;
DROP INDEX case_access_user;
DROP TRIGGER concern_holders_truncated ON concerns;
DROP TRIGGER concern_holders_deleted ON concerns;
DROP TRIGGER concern_holders_updated ON concerns;
DROP TRIGGER concern_holders_inserted ON concerns;
DROP FUNCTION concern_holders_truncated();
DROP FUNCTION concern_holders_deleted();
DROP FUNCTION concern_holders_updated();
DROP FUNCTION concern_holders_inserted();
DROP FUNCTION concern_holders_forget(concerns);
DROP FUNCTION concern_holder_rows(concerns);
DROP FUNCTION concern_holder_keys(jsonb, text, text);
DROP TABLE concern_holders;
