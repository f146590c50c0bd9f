-- +goose Up
-- Statistics that cannot be differenced (issue 17): the cell-key method of the Office for
-- National Statistics (Census 2021). Every counted record has a secret record key, a uniform
-- random 0..255 drawn once and never changed or published. A published count's cell key is
-- the sum of its records' keys modulo 256, and the policy's perturbation table turns
-- (count, cell key) into the noise added to it: the same records always get the same noise,
-- any other set (an overlapping period, the other cells of a table) an unrelated one.
--
-- Intake draws a concern's key with crypto/rand and sends it in the filing INSERT; the
-- default draws one for every other writer and for the rows already here (a volatile default
-- is evaluated per row as the table is rewritten). gen_random_uuid() reads the server's strong
-- random source; the first byte of a version 4 UUID is all random.
ALTER TABLE concerns ADD COLUMN record_key smallint NOT NULL DEFAULT get_byte(uuid_send(gen_random_uuid()), 0)
    CHECK (record_key BETWEEN 0 AND 255);
-- The other published counts (detriment messages, investigations, findings, recommendations)
-- count rows of their own tables, so those rows carry keys too.
ALTER TABLE messages ADD COLUMN record_key smallint NOT NULL DEFAULT get_byte(uuid_send(gen_random_uuid()), 0)
    CHECK (record_key BETWEEN 0 AND 255);
ALTER TABLE investigations ADD COLUMN record_key smallint NOT NULL DEFAULT get_byte(uuid_send(gen_random_uuid()), 0)
    CHECK (record_key BETWEEN 0 AND 255);
ALTER TABLE allegations ADD COLUMN record_key smallint NOT NULL DEFAULT get_byte(uuid_send(gen_random_uuid()), 0)
    CHECK (record_key BETWEEN 0 AND 255);
ALTER TABLE recommendations ADD COLUMN record_key smallint NOT NULL DEFAULT get_byte(uuid_send(gen_random_uuid()), 0)
    CHECK (record_key BETWEEN 0 AND 255);

-- A key that changed would give the same records new noise, and two readings would average it
-- away. Only an UPDATE naming the column pays for this check.
-- +goose StatementBegin
CREATE FUNCTION record_key_fixed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.record_key <> OLD.record_key THEN
    RAISE EXCEPTION 'record_key of % never changes', TG_TABLE_NAME USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER concerns_record_key_fixed BEFORE UPDATE OF record_key ON concerns
    FOR EACH ROW EXECUTE FUNCTION record_key_fixed();
CREATE TRIGGER messages_record_key_fixed BEFORE UPDATE OF record_key ON messages
    FOR EACH ROW EXECUTE FUNCTION record_key_fixed();
CREATE TRIGGER investigations_record_key_fixed BEFORE UPDATE OF record_key ON investigations
    FOR EACH ROW EXECUTE FUNCTION record_key_fixed();
CREATE TRIGGER allegations_record_key_fixed BEFORE UPDATE OF record_key ON allegations
    FOR EACH ROW EXECUTE FUNCTION record_key_fixed();
CREATE TRIGGER recommendations_record_key_fixed BEFORE UPDATE OF record_key ON recommendations
    FOR EACH ROW EXECUTE FUNCTION record_key_fixed();

-- The rollup of 00009 keeps, beside each count, the sum of the counted concerns' keys (sums,
-- not sums mod 256: deltas of either sign then simply add, and readers reduce).
ALTER TABLE stats_concern_counts
    ADD COLUMN keys bigint NOT NULL DEFAULT 0,
    ADD COLUMN ack_late_keys bigint NOT NULL DEFAULT 0,
    ADD COLUMN feedback_late_keys bigint NOT NULL DEFAULT 0,
    ADD COLUMN anonymous_keys bigint NOT NULL DEFAULT 0,
    ADD COLUMN anonymous_dialogue_keys bigint NOT NULL DEFAULT 0;
ALTER TABLE stats_concern_times ADD COLUMN keys bigint NOT NULL DEFAULT 0;

-- The cells a group of concerns adds to (n = +rows) or takes from (n = -rows); keys is the
-- group's key sum with the same sign.
DROP FUNCTION stats_concern_cells(integer, timestamptz, text, text, text, text, text, text, timestamptz,
    timestamptz, timestamptz, timestamptz, boolean);
-- +goose StatementBegin
CREATE FUNCTION stats_concern_cells(sign integer, keys bigint, received_at timestamptz, channel text, mode text,
    category text, service_area text, route_rule text, outcome text, acknowledged_at timestamptz,
    acknowledge_by timestamptz, feedback_at timestamptz, feedback_by timestamptz, dialogue boolean)
RETURNS TABLE (month date, dimension text, value text, n integer, ack_late integer, feedback_late integer,
    anonymous integer, anonymous_dialogue integer, keys bigint, ack_late_keys bigint, feedback_late_keys bigint,
    anonymous_keys bigint, anonymous_dialogue_keys bigint)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT stats_month(received_at), d.dimension, d.value, sign,
         CASE WHEN d.dimension = 'total' AND acknowledged_at > acknowledge_by THEN sign ELSE 0 END,
         CASE WHEN d.dimension = 'total' AND feedback_at > feedback_by THEN sign ELSE 0 END,
         CASE WHEN d.dimension = 'total' AND mode = 'anonymous' THEN sign ELSE 0 END,
         CASE WHEN d.dimension = 'total' AND mode = 'anonymous' AND dialogue THEN sign ELSE 0 END,
         keys,
         CASE WHEN d.dimension = 'total' AND acknowledged_at > acknowledge_by THEN keys ELSE 0 END,
         CASE WHEN d.dimension = 'total' AND feedback_at > feedback_by THEN keys ELSE 0 END,
         CASE WHEN d.dimension = 'total' AND mode = 'anonymous' THEN keys ELSE 0 END,
         CASE WHEN d.dimension = 'total' AND mode = 'anonymous' AND dialogue THEN keys ELSE 0 END
  FROM (VALUES ('total', ''), ('channel', channel), ('mode', mode), ('category', category),
               ('service_area', service_area), ('route', route_rule),
               ('outcome', coalesce(outcome, 'pending'))) d(dimension, value)
$$;
-- +goose StatementEnd

-- The triggers of 00009 and 00017 again, carrying the key sums. The insert still groups alike
-- concerns first and sums their keys, so filing pays for one more sum, not more rows. A cell
-- whose count nets to nil may still move its key sum (one concern leaves it as another
-- enters), so it is written when any sum moved.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION stats_concerns_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO stats_concern_counts (month, dimension, value, n, ack_late, feedback_late, anonymous, anonymous_dialogue,
      keys, ack_late_keys, feedback_late_keys, anonymous_keys, anonymous_dialogue_keys)
  SELECT x.month, x.dimension, x.value, sum(x.n), sum(x.ack_late), sum(x.feedback_late), sum(x.anonymous), sum(x.anonymous_dialogue),
         sum(x.keys), sum(x.ack_late_keys), sum(x.feedback_late_keys), sum(x.anonymous_keys), sum(x.anonymous_dialogue_keys)
  FROM (SELECT count(*)::integer AS rows, sum(record_key)::bigint AS keys, received_at, channel, mode, category, service_area,
               route_rule, outcome, acknowledged_at, acknowledge_by, feedback_at, feedback_by, dialogue
        FROM new_rows
        GROUP BY received_at, channel, mode, category, service_area, route_rule, outcome,
                 acknowledged_at, acknowledge_by, feedback_at, feedback_by, dialogue) c,
       stats_concern_cells(c.rows, c.keys, c.received_at, c.channel, c.mode, c.category, c.service_area, c.route_rule,
           c.outcome, c.acknowledged_at, c.acknowledge_by, c.feedback_at, c.feedback_by, c.dialogue) x
  GROUP BY 1, 2, 3;
  INSERT INTO stats_concern_times (month, metric, hours, n, keys)
  SELECT stats_month(c.received_at), t.metric, t.hours, sum(c.rows), sum(c.keys)
  FROM (SELECT count(*) AS rows, sum(record_key)::bigint AS keys, received_at, acknowledged_at, decided_at, feedback_at, closed_at
        FROM new_rows
        WHERE acknowledged_at IS NOT NULL OR decided_at IS NOT NULL OR feedback_at IS NOT NULL OR closed_at IS NOT NULL
        GROUP BY received_at, acknowledged_at, decided_at, feedback_at, closed_at) c,
       stats_concern_times(c.received_at, c.acknowledged_at, c.decided_at, c.feedback_at, c.closed_at) t
  GROUP BY 1, 2, 3;
  RETURN NULL;
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION stats_concerns_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO stats_concern_counts (month, dimension, value, n, ack_late, feedback_late, anonymous, anonymous_dialogue,
      keys, ack_late_keys, feedback_late_keys, anonymous_keys, anonymous_dialogue_keys)
  SELECT x.month, x.dimension, x.value, sum(x.n), sum(x.ack_late), sum(x.feedback_late), sum(x.anonymous), sum(x.anonymous_dialogue),
         sum(x.keys), sum(x.ack_late_keys), sum(x.feedback_late_keys), sum(x.anonymous_keys), sum(x.anonymous_dialogue_keys)
  FROM (SELECT -1 AS sign, * FROM old_rows) c, stats_concern_cells(c.sign, -c.record_key, c.received_at, c.channel, c.mode,
      c.category, c.service_area, c.route_rule, c.outcome, c.acknowledged_at, c.acknowledge_by, c.feedback_at, c.feedback_by,
      c.dialogue) x
  GROUP BY 1, 2, 3
  HAVING sum(x.n) <> 0 OR sum(x.ack_late) <> 0 OR sum(x.feedback_late) <> 0 OR sum(x.anonymous) <> 0
      OR sum(x.anonymous_dialogue) <> 0 OR sum(x.keys) <> 0;
  INSERT INTO stats_concern_times (month, metric, hours, n, keys)
  SELECT stats_month(c.received_at), t.metric, t.hours, sum(c.sign), sum(c.sign * c.record_key)
  FROM (SELECT -1 AS sign, * FROM old_rows) c, stats_concern_times(c.received_at, c.acknowledged_at, c.decided_at, c.feedback_at, c.closed_at) t
  GROUP BY 1, 2, 3
  HAVING sum(c.sign) <> 0;
  RETURN NULL;
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION stats_concerns_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO stats_concern_counts (month, dimension, value, n, ack_late, feedback_late, anonymous, anonymous_dialogue,
      keys, ack_late_keys, feedback_late_keys, anonymous_keys, anonymous_dialogue_keys)
  SELECT x.month, x.dimension, x.value, sum(x.n), sum(x.ack_late), sum(x.feedback_late), sum(x.anonymous), sum(x.anonymous_dialogue),
         sum(x.keys), sum(x.ack_late_keys), sum(x.feedback_late_keys), sum(x.anonymous_keys), sum(x.anonymous_dialogue_keys)
  FROM (SELECT 1 AS sign, * FROM new_rows UNION ALL SELECT -1, * FROM old_rows) c,
       stats_concern_cells(c.sign, c.sign * c.record_key, c.received_at, c.channel, c.mode, c.category, c.service_area,
           c.route_rule, c.outcome, c.acknowledged_at, c.acknowledge_by, c.feedback_at, c.feedback_by, c.dialogue) x
  GROUP BY 1, 2, 3
  HAVING sum(x.n) <> 0 OR sum(x.ack_late) <> 0 OR sum(x.feedback_late) <> 0 OR sum(x.anonymous) <> 0
      OR sum(x.anonymous_dialogue) <> 0 OR sum(x.keys) <> 0 OR sum(x.ack_late_keys) <> 0
      OR sum(x.feedback_late_keys) <> 0 OR sum(x.anonymous_keys) <> 0 OR sum(x.anonymous_dialogue_keys) <> 0;
  INSERT INTO stats_concern_times (month, metric, hours, n, keys)
  SELECT stats_month(c.received_at), t.metric, t.hours, sum(c.sign), sum(c.sign * c.record_key)
  FROM (SELECT 1 AS sign, * FROM new_rows UNION ALL SELECT -1, * FROM old_rows) c,
       stats_concern_times(c.received_at, c.acknowledged_at, c.decided_at, c.feedback_at, c.closed_at) t
  GROUP BY 1, 2, 3
  HAVING sum(c.sign) <> 0 OR sum(c.sign * c.record_key) <> 0;
  RETURN NULL;
END
$$;
-- +goose StatementEnd

-- The rollup again from the concerns, now with their keys.
DELETE FROM stats_concern_counts;
DELETE FROM stats_concern_times;
INSERT INTO stats_concern_counts (month, dimension, value, n, ack_late, feedback_late, anonymous, anonymous_dialogue,
    keys, ack_late_keys, feedback_late_keys, anonymous_keys, anonymous_dialogue_keys)
SELECT x.month, x.dimension, x.value, sum(x.n), sum(x.ack_late), sum(x.feedback_late), sum(x.anonymous), sum(x.anonymous_dialogue),
       sum(x.keys), sum(x.ack_late_keys), sum(x.feedback_late_keys), sum(x.anonymous_keys), sum(x.anonymous_dialogue_keys)
FROM concerns c, stats_concern_cells(1, c.record_key, c.received_at, c.channel, c.mode, c.category, c.service_area,
    c.route_rule, c.outcome, c.acknowledged_at, c.acknowledge_by, c.feedback_at, c.feedback_by, c.dialogue) x
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;
INSERT INTO stats_concern_times (month, metric, hours, n, keys)
SELECT stats_month(c.received_at), t.metric, t.hours, count(*), sum(c.record_key)
FROM concerns c, stats_concern_times(c.received_at, c.acknowledged_at, c.decided_at, c.feedback_at, c.closed_at) t
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;

-- The clocks overdue are counted from concerns at query time over small partial indexes:
-- they carry the key too, so those stay index-only scans.
DROP INDEX concerns_stats_unacknowledged;
CREATE INDEX concerns_stats_unacknowledged ON concerns (received_at) INCLUDE (acknowledge_by, record_key)
    WHERE acknowledged_at IS NULL;
DROP INDEX concerns_stats_no_feedback;
CREATE INDEX concerns_stats_no_feedback ON concerns (received_at) INCLUDE (feedback_by, record_key)
    WHERE feedback_at IS NULL;
DROP INDEX concerns_stats_decide;
CREATE INDEX concerns_stats_decide ON concerns (received_at) INCLUDE (decide_by, decided_at, record_key)
    WHERE decide_by IS NOT NULL AND (decided_at IS NULL OR decided_at > decide_by);

-- +goose Down
DROP INDEX concerns_stats_decide;
CREATE INDEX concerns_stats_decide ON concerns (received_at) INCLUDE (decide_by, decided_at)
    WHERE decide_by IS NOT NULL AND (decided_at IS NULL OR decided_at > decide_by);
DROP INDEX concerns_stats_no_feedback;
CREATE INDEX concerns_stats_no_feedback ON concerns (received_at) INCLUDE (feedback_by)
    WHERE feedback_at IS NULL;
DROP INDEX concerns_stats_unacknowledged;
CREATE INDEX concerns_stats_unacknowledged ON concerns (received_at) INCLUDE (acknowledge_by)
    WHERE acknowledged_at IS NULL;
DROP FUNCTION stats_concern_cells(integer, bigint, timestamptz, text, text, text, text, text, text, timestamptz,
    timestamptz, timestamptz, timestamptz, boolean);
-- +goose StatementBegin
CREATE FUNCTION stats_concern_cells(sign integer, received_at timestamptz, channel text, mode text,
    category text, service_area text, route_rule text, outcome text, acknowledged_at timestamptz,
    acknowledge_by timestamptz, feedback_at timestamptz, feedback_by timestamptz, dialogue boolean)
RETURNS TABLE (month date, dimension text, value text, n integer, ack_late integer, feedback_late integer,
    anonymous integer, anonymous_dialogue integer)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT stats_month(received_at), d.dimension, d.value, sign,
         CASE WHEN d.dimension = 'total' AND acknowledged_at > acknowledge_by THEN sign ELSE 0 END,
         CASE WHEN d.dimension = 'total' AND feedback_at > feedback_by THEN sign ELSE 0 END,
         CASE WHEN d.dimension = 'total' AND mode = 'anonymous' THEN sign ELSE 0 END,
         CASE WHEN d.dimension = 'total' AND mode = 'anonymous' AND dialogue THEN sign ELSE 0 END
  FROM (VALUES ('total', ''), ('channel', channel), ('mode', mode), ('category', category),
               ('service_area', service_area), ('route', route_rule),
               ('outcome', coalesce(outcome, 'pending'))) d(dimension, value)
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION stats_concerns_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO stats_concern_counts (month, dimension, value, n, ack_late, feedback_late, anonymous, anonymous_dialogue)
  SELECT x.month, x.dimension, x.value, sum(x.n), sum(x.ack_late), sum(x.feedback_late), sum(x.anonymous), sum(x.anonymous_dialogue)
  FROM (SELECT count(*)::integer AS rows, received_at, channel, mode, category, service_area, route_rule, outcome,
               acknowledged_at, acknowledge_by, feedback_at, feedback_by, dialogue
        FROM new_rows
        GROUP BY received_at, channel, mode, category, service_area, route_rule, outcome,
                 acknowledged_at, acknowledge_by, feedback_at, feedback_by, dialogue) c,
       stats_concern_cells(c.rows, c.received_at, c.channel, c.mode, c.category, c.service_area, c.route_rule,
           c.outcome, c.acknowledged_at, c.acknowledge_by, c.feedback_at, c.feedback_by, c.dialogue) x
  GROUP BY 1, 2, 3;
  INSERT INTO stats_concern_times (month, metric, hours, n)
  SELECT stats_month(c.received_at), t.metric, t.hours, sum(c.rows)
  FROM (SELECT count(*) AS rows, received_at, acknowledged_at, decided_at, feedback_at, closed_at
        FROM new_rows
        WHERE acknowledged_at IS NOT NULL OR decided_at IS NOT NULL OR feedback_at IS NOT NULL OR closed_at IS NOT NULL
        GROUP BY received_at, acknowledged_at, decided_at, feedback_at, closed_at) c,
       stats_concern_times(c.received_at, c.acknowledged_at, c.decided_at, c.feedback_at, c.closed_at) t
  GROUP BY 1, 2, 3;
  RETURN NULL;
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION stats_concerns_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO stats_concern_counts (month, dimension, value, n, ack_late, feedback_late, anonymous, anonymous_dialogue)
  SELECT x.month, x.dimension, x.value, sum(x.n), sum(x.ack_late), sum(x.feedback_late), sum(x.anonymous), sum(x.anonymous_dialogue)
  FROM (SELECT -1 AS sign, * FROM old_rows) c, stats_concern_cells(c.sign, c.received_at, c.channel, c.mode, c.category, c.service_area, c.route_rule,
      c.outcome, c.acknowledged_at, c.acknowledge_by, c.feedback_at, c.feedback_by, c.dialogue) x
  GROUP BY 1, 2, 3
  HAVING sum(x.n) <> 0 OR sum(x.ack_late) <> 0 OR sum(x.feedback_late) <> 0 OR sum(x.anonymous) <> 0
      OR sum(x.anonymous_dialogue) <> 0;
  INSERT INTO stats_concern_times (month, metric, hours, n)
  SELECT stats_month(c.received_at), t.metric, t.hours, sum(c.sign)
  FROM (SELECT -1 AS sign, * FROM old_rows) c, stats_concern_times(c.received_at, c.acknowledged_at, c.decided_at, c.feedback_at, c.closed_at) t
  GROUP BY 1, 2, 3
  HAVING sum(c.sign) <> 0;
  RETURN NULL;
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION stats_concerns_updated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO stats_concern_counts (month, dimension, value, n, ack_late, feedback_late, anonymous, anonymous_dialogue)
  SELECT x.month, x.dimension, x.value, sum(x.n), sum(x.ack_late), sum(x.feedback_late), sum(x.anonymous), sum(x.anonymous_dialogue)
  FROM (SELECT 1 AS sign, * FROM new_rows UNION ALL SELECT -1, * FROM old_rows) c, stats_concern_cells(c.sign, c.received_at, c.channel, c.mode, c.category, c.service_area, c.route_rule,
      c.outcome, c.acknowledged_at, c.acknowledge_by, c.feedback_at, c.feedback_by, c.dialogue) x
  GROUP BY 1, 2, 3
  HAVING sum(x.n) <> 0 OR sum(x.ack_late) <> 0 OR sum(x.feedback_late) <> 0 OR sum(x.anonymous) <> 0
      OR sum(x.anonymous_dialogue) <> 0;
  INSERT INTO stats_concern_times (month, metric, hours, n)
  SELECT stats_month(c.received_at), t.metric, t.hours, sum(c.sign)
  FROM (SELECT 1 AS sign, * FROM new_rows UNION ALL SELECT -1, * FROM old_rows) c, stats_concern_times(c.received_at, c.acknowledged_at, c.decided_at, c.feedback_at, c.closed_at) t
  GROUP BY 1, 2, 3
  HAVING sum(c.sign) <> 0;
  RETURN NULL;
END
$$;
-- +goose StatementEnd
ALTER TABLE stats_concern_times DROP COLUMN keys;
ALTER TABLE stats_concern_counts DROP COLUMN keys, DROP COLUMN ack_late_keys, DROP COLUMN feedback_late_keys,
    DROP COLUMN anonymous_keys, DROP COLUMN anonymous_dialogue_keys;
DROP TRIGGER recommendations_record_key_fixed ON recommendations;
DROP TRIGGER allegations_record_key_fixed ON allegations;
DROP TRIGGER investigations_record_key_fixed ON investigations;
DROP TRIGGER messages_record_key_fixed ON messages;
DROP TRIGGER concerns_record_key_fixed ON concerns;
DROP FUNCTION record_key_fixed();
ALTER TABLE recommendations DROP COLUMN record_key;
ALTER TABLE allegations DROP COLUMN record_key;
ALTER TABLE investigations DROP COLUMN record_key;
ALTER TABLE messages DROP COLUMN record_key;
ALTER TABLE concerns DROP COLUMN record_key;
