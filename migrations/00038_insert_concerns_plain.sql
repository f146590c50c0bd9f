-- +goose Up
-- Issue 20: a filing's concern row is a plain insert, not a speculative one. ON CONFLICT
-- (reference) made every row an "insert, then confirm" (an extra WAL record and a probe of the
-- reference index before the insert), for a collision of one random reference in 36^8 that
-- almost never happens. A taken reference now fails the statement, and the store retries the
-- batch one concern at a time so that only the colliding concern draws again
-- (store.InsertConcerns). Otherwise as 00036.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION insert_concerns(council bigint, public_ids uuid[], refs text[], channels text[], modes text[],
    service_areas text[], categories text[], safeguardings boolean[], statuses text[], languages text[],
    receipt_hashes bytea[], wrapped_keys bytea[], contents bytea[], identities_sealed bytea[],
    recipients_flat text[], recipient_counts integer[], identities_open bytea[],
    named_keys_flat bytea[], named_key_counts integer[], route_rules text[], route_versions text[],
    routes jsonb[], route_hashes bytea[], received_ats timestamptz[], acknowledge_bys timestamptz[],
    decide_bys timestamptz[], feedback_bys timestamptz[], created_bys bigint[], record_keys smallint[],
    notify_refs text[], notify_recipients text[], notice_refs text[], notice_addresses bytea[])
RETURNS TABLE (id bigint, reference text)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
#variable_conflict use_column
BEGIN
    PERFORM set_config('candour.council', council::text, true);
    -- A decision sent whole with its hash is kept in route_decisions; one sent as a hash alone
    -- was committed there by an earlier batch (this statement's own rows are not visible to it).
    RETURN QUERY WITH v AS (
        SELECT v.*,
            (sum(recipient_count) OVER (ORDER BY n) - recipient_count)::integer AS recipients_from,
            (sum(named_key_count) OVER (ORDER BY n) - named_key_count)::integer AS named_keys_from
        FROM unnest(public_ids, refs, channels, modes, service_areas, categories, safeguardings, statuses,
            languages, receipt_hashes, wrapped_keys, contents, identities_sealed, recipient_counts,
            identities_open, named_key_counts, route_rules, route_versions, routes, route_hashes, received_ats,
            acknowledge_bys, decide_bys, feedback_bys, created_bys, record_keys) WITH ORDINALITY
            AS v (public_id, reference, channel, mode, service_area, category, safeguarding, status, language,
            receipt_hash, wrapped_key, content, identity_sealed, recipient_count, identity_open, named_key_count,
            route_rule, route_version, route, route_hash, received_at, acknowledge_by, decide_by, feedback_by,
            created_by, record_key, n)
    ), d AS (
        INSERT INTO route_decisions (hash, decision)
        SELECT DISTINCT ON (route_hash) route_hash, route FROM v WHERE route_hash IS NOT NULL AND route IS NOT NULL
        ON CONFLICT (council_id, hash) DO NOTHING
    ), c AS (
        INSERT INTO concerns (public_id, reference, channel, mode, service_area, category, safeguarding, status,
            language, receipt_hash, wrapped_key, content, identity_sealed, identity_recipients, identity_open,
            named_keys, route_rule, route_version, route, received_at, acknowledge_by, decide_by, feedback_by,
            created_by, next_deadline, record_key)
        SELECT public_id, reference, channel, mode, service_area, category, safeguarding, status,
            language, receipt_hash, wrapped_key, content, identity_sealed,
            recipients_flat[recipients_from + 1 : recipients_from + recipient_count], identity_open,
            named_keys_flat[named_keys_from + 1 : named_keys_from + named_key_count],
            route_rule, route_version, coalesce(v.route, known.decision),
            received_at, acknowledge_by, decide_by, feedback_by, created_by,
            least(acknowledge_by, decide_by, feedback_by), -- every clock runs: the rule of migration 00022
            record_key
        FROM v LEFT JOIN route_decisions known ON known.hash = v.route_hash AND v.route IS NULL
        RETURNING concerns.id, concerns.reference
    ), o AS (
        INSERT INTO routed_outbox (concern_id, recipients)
        SELECT c.id, array_agg(r.recipient)
        FROM c JOIN unnest(notify_refs, notify_recipients) r (reference, recipient) USING (reference)
        GROUP BY c.id
    ), a AS (
        INSERT INTO reporter_notices (concern_id, address)
        SELECT c.id, x.address FROM c JOIN unnest(notice_refs, notice_addresses) x (reference, address) USING (reference)
    )
    SELECT c.id, c.reference FROM c;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION insert_concerns(council bigint, public_ids uuid[], refs text[], channels text[], modes text[],
    service_areas text[], categories text[], safeguardings boolean[], statuses text[], languages text[],
    receipt_hashes bytea[], wrapped_keys bytea[], contents bytea[], identities_sealed bytea[],
    recipients_flat text[], recipient_counts integer[], identities_open bytea[],
    named_keys_flat bytea[], named_key_counts integer[], route_rules text[], route_versions text[],
    routes jsonb[], route_hashes bytea[], received_ats timestamptz[], acknowledge_bys timestamptz[],
    decide_bys timestamptz[], feedback_bys timestamptz[], created_bys bigint[], record_keys smallint[],
    notify_refs text[], notify_recipients text[], notice_refs text[], notice_addresses bytea[])
RETURNS TABLE (id bigint, reference text)
LANGUAGE plpgsql VOLATILE SECURITY INVOKER AS $$
#variable_conflict use_column
BEGIN
    PERFORM set_config('candour.council', council::text, true);
    -- A decision sent whole with its hash is kept in route_decisions; one sent as a hash alone
    -- was committed there by an earlier batch (this statement's own rows are not visible to it).
    RETURN QUERY WITH v AS (
        SELECT v.*,
            (sum(recipient_count) OVER (ORDER BY n) - recipient_count)::integer AS recipients_from,
            (sum(named_key_count) OVER (ORDER BY n) - named_key_count)::integer AS named_keys_from
        FROM unnest(public_ids, refs, channels, modes, service_areas, categories, safeguardings, statuses,
            languages, receipt_hashes, wrapped_keys, contents, identities_sealed, recipient_counts,
            identities_open, named_key_counts, route_rules, route_versions, routes, route_hashes, received_ats,
            acknowledge_bys, decide_bys, feedback_bys, created_bys, record_keys) WITH ORDINALITY
            AS v (public_id, reference, channel, mode, service_area, category, safeguarding, status, language,
            receipt_hash, wrapped_key, content, identity_sealed, recipient_count, identity_open, named_key_count,
            route_rule, route_version, route, route_hash, received_at, acknowledge_by, decide_by, feedback_by,
            created_by, record_key, n)
    ), d AS (
        INSERT INTO route_decisions (hash, decision)
        SELECT DISTINCT ON (route_hash) route_hash, route FROM v WHERE route_hash IS NOT NULL AND route IS NOT NULL
        ON CONFLICT (council_id, hash) DO NOTHING
    ), c AS (
        INSERT INTO concerns (public_id, reference, channel, mode, service_area, category, safeguarding, status,
            language, receipt_hash, wrapped_key, content, identity_sealed, identity_recipients, identity_open,
            named_keys, route_rule, route_version, route, received_at, acknowledge_by, decide_by, feedback_by,
            created_by, next_deadline, record_key)
        SELECT public_id, reference, channel, mode, service_area, category, safeguarding, status,
            language, receipt_hash, wrapped_key, content, identity_sealed,
            recipients_flat[recipients_from + 1 : recipients_from + recipient_count], identity_open,
            named_keys_flat[named_keys_from + 1 : named_keys_from + named_key_count],
            route_rule, route_version, coalesce(v.route, known.decision),
            received_at, acknowledge_by, decide_by, feedback_by, created_by,
            least(acknowledge_by, decide_by, feedback_by), -- every clock runs: the rule of migration 00022
            record_key
        FROM v LEFT JOIN route_decisions known ON known.hash = v.route_hash AND v.route IS NULL
        ON CONFLICT (reference) DO NOTHING
        RETURNING concerns.id, concerns.reference
    ), o AS (
        INSERT INTO routed_outbox (concern_id, recipients)
        SELECT c.id, array_agg(r.recipient)
        FROM c JOIN unnest(notify_refs, notify_recipients) r (reference, recipient) USING (reference)
        GROUP BY c.id
    ), a AS (
        INSERT INTO reporter_notices (concern_id, address)
        SELECT c.id, x.address FROM c JOIN unnest(notice_refs, notice_addresses) x (reference, address) USING (reference)
    )
    SELECT c.id, c.reference FROM c;
END
$$;
-- +goose StatementEnd
