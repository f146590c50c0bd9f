-- +goose Up
-- Statistics rollup (issue 7). A year's statistics over a million concerns cannot be worked
-- out from the concerns themselves inside the time a page may take: the counts, and above all
-- the sorts behind the handling-time percentiles, cost half a second. So the figures that do
-- not depend on when they are asked for are kept, per council month of receipt (Europe/London),
-- in two small tables, and kept in step by statement-level triggers in the same transaction as
-- the change that moves them. Nothing here is content or identity: only the clear columns the
-- statistics already read, counted.
--
-- A period of whole months reads the rollup alone; the part of a period that does not cover a
-- whole month (a financial quarter starting mid-month, say) is read from concerns through the
-- covering index below. Counts that depend on the moment they are asked (clocks overdue now)
-- are never rolled up: small partial indexes answer them at query time.

-- Whether an anonymous concern had a two-way conversation (at least one staff and one
-- reporter message), kept by a trigger on messages so statistics never join the mailbox.
ALTER TABLE concerns ADD COLUMN dialogue boolean NOT NULL DEFAULT false;
UPDATE concerns c SET dialogue = true
FROM (SELECT concern_id FROM messages WHERE author IN ('staff', 'reporter')
      GROUP BY concern_id HAVING bool_or(author = 'staff') AND bool_or(author = 'reporter')) d
WHERE c.id = d.concern_id;

-- The council month a concern counts in.
-- +goose StatementBegin
CREATE FUNCTION stats_month(t timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN date_trunc('month', t AT TIME ZONE 'Europe/London')::date;
-- +goose StatementEnd

-- A handling time in whole hours (rounded), the resolution of the percentiles. Reporter-side
-- times are kept to the hour anyway, and reports show days to one decimal (2.4 hours).
-- +goose StatementBegin
CREATE FUNCTION stats_hours(received timestamptz, reached timestamptz) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN round(extract(epoch FROM reached - received) / 3600)::integer;
-- +goose StatementEnd

-- Counts per month: one row per (dimension, value), and a 'total' row (value '') that also
-- carries the clock breaches and the anonymous / dialogue counts. Breakdowns are the margins
-- the statistics show, not their cross product, so a month is a few dozen rows.
CREATE TABLE stats_concern_counts (
    month               date NOT NULL,
    dimension           text NOT NULL,  -- total, channel, mode, category, service_area, route, outcome
    value               text NOT NULL,
    n                   bigint NOT NULL,
    ack_late            bigint NOT NULL,  -- acknowledged after acknowledge_by
    feedback_late       bigint NOT NULL,  -- fed back after feedback_by
    anonymous           bigint NOT NULL,
    anonymous_dialogue  bigint NOT NULL
);
-- Append-only: each write adds its delta as new rows (no unique key, so concurrent writers never
-- wait on a hot row); readers sum, and a job folds the deltas (store.CompactStats).
CREATE INDEX stats_concern_counts_month ON stats_concern_counts (month, dimension, value);

-- Handling-time histograms per month: how many concerns received that month reached a step
-- after so many hours. Percentiles are exact at hour resolution.
CREATE TABLE stats_concern_times (
    month   date NOT NULL,
    metric  text NOT NULL,    -- acknowledge, decide, feedback, close
    hours   integer NOT NULL,
    n       bigint NOT NULL
);
CREATE INDEX stats_concern_times_month ON stats_concern_times (month, metric, hours);

-- The cells one concern adds to (sign 1) or takes from (sign -1) stats_concern_counts.
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

-- The (metric, hours) points one concern adds to stats_concern_times.
-- +goose StatementBegin
CREATE FUNCTION stats_concern_times(received_at timestamptz, acknowledged_at timestamptz,
    decided_at timestamptz, feedback_at timestamptz, closed_at timestamptz)
RETURNS TABLE (metric text, hours integer)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
  SELECT t.metric, stats_hours(received_at, t.reached)
  FROM (VALUES ('acknowledge', acknowledged_at), ('decide', decided_at), ('feedback', feedback_at),
               ('close', closed_at)) t(metric, reached)
  WHERE t.reached IS NOT NULL
$$;
-- +goose StatementEnd

-- Backfill from the concerns already there, in key order so a month's rows sit together.
INSERT INTO stats_concern_counts (month, dimension, value, n, ack_late, feedback_late, anonymous, anonymous_dialogue)
SELECT x.month, x.dimension, x.value, sum(x.n), sum(x.ack_late), sum(x.feedback_late), sum(x.anonymous), sum(x.anonymous_dialogue)
FROM concerns c, stats_concern_cells(1, c.received_at, c.channel, c.mode, c.category, c.service_area, c.route_rule,
    c.outcome, c.acknowledged_at, c.acknowledge_by, c.feedback_at, c.feedback_by, c.dialogue) x
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;
INSERT INTO stats_concern_times (month, metric, hours, n)
SELECT stats_month(c.received_at), t.metric, t.hours, count(*)
FROM concerns c, stats_concern_times(c.received_at, c.acknowledged_at, c.decided_at, c.feedback_at, c.closed_at) t
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3;

-- Keeps both tables in step with concerns: the rows a statement inserted count +1, the rows
-- it deleted -1, an update is both. Set-based over the transition tables, so a bulk load pays
-- one aggregate, not a trigger per row; cells whose net change is nil are not touched (an
-- update to content or a deadline writes nothing here), and the others are appended as deltas,
-- so concurrent writers never contend on a month's rows.
-- One function per operation, with static SQL: plpgsql caches its plans (a dynamic EXECUTE
-- was planned again on every statement, which every filed concern paid for).
-- +goose StatementBegin
CREATE FUNCTION stats_concerns_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO stats_concern_counts (month, dimension, value, n, ack_late, feedback_late, anonymous, anonymous_dialogue)
  SELECT x.month, x.dimension, x.value, sum(x.n), sum(x.ack_late), sum(x.feedback_late), sum(x.anonymous), sum(x.anonymous_dialogue)
  FROM (SELECT 1 AS sign, * FROM new_rows) c, stats_concern_cells(c.sign, c.received_at, c.channel, c.mode, c.category, c.service_area, c.route_rule,
      c.outcome, c.acknowledged_at, c.acknowledge_by, c.feedback_at, c.feedback_by, c.dialogue) x
  GROUP BY 1, 2, 3
  HAVING sum(x.n) <> 0 OR sum(x.ack_late) <> 0 OR sum(x.feedback_late) <> 0 OR sum(x.anonymous) <> 0
      OR sum(x.anonymous_dialogue) <> 0;
  INSERT INTO stats_concern_times (month, metric, hours, n)
  SELECT stats_month(c.received_at), t.metric, t.hours, sum(c.sign)
  FROM (SELECT 1 AS sign, * FROM new_rows) c, stats_concern_times(c.received_at, c.acknowledged_at, c.decided_at, c.feedback_at, c.closed_at) t
  GROUP BY 1, 2, 3
  HAVING sum(c.sign) <> 0;
  RETURN NULL;
END
$$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION stats_concerns_deleted() RETURNS trigger
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
CREATE FUNCTION stats_concerns_updated() RETURNS trigger
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
CREATE TRIGGER stats_concerns_inserted AFTER INSERT ON concerns
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_concerns_inserted();
CREATE TRIGGER stats_concerns_updated AFTER UPDATE ON concerns
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_concerns_updated();
CREATE TRIGGER stats_concerns_deleted AFTER DELETE ON concerns
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_concerns_deleted();
-- TRUNCATE fires no delete trigger: empty the rollup with it.
-- +goose StatementBegin
CREATE FUNCTION stats_concerns_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM stats_concern_counts;
  DELETE FROM stats_concern_times;
  RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER stats_concerns_truncated AFTER TRUNCATE ON concerns
    FOR EACH STATEMENT EXECUTE FUNCTION stats_concerns_truncated();

-- Keeps concerns.dialogue in step with the mailbox: a message added can only start a
-- conversation, one removed (retention) can end it.
-- +goose StatementBegin
CREATE FUNCTION stats_messages_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    UPDATE concerns c SET dialogue = true
    FROM (SELECT m.concern_id FROM messages m
          WHERE m.concern_id IN (SELECT concern_id FROM new_rows WHERE author IN ('staff', 'reporter'))
            AND m.author IN ('staff', 'reporter')
          GROUP BY m.concern_id
          HAVING bool_or(m.author = 'staff') AND bool_or(m.author = 'reporter')) d
    WHERE c.id = d.concern_id AND NOT c.dialogue;
  END IF;
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    UPDATE concerns c SET dialogue = false
    WHERE c.id IN (SELECT concern_id FROM old_rows) AND c.dialogue
      AND NOT (EXISTS (SELECT 1 FROM messages m WHERE m.concern_id = c.id AND m.author = 'staff')
           AND EXISTS (SELECT 1 FROM messages m WHERE m.concern_id = c.id AND m.author = 'reporter'));
  END IF;
  RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER stats_messages_inserted AFTER INSERT ON messages
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_messages_changed();
CREATE TRIGGER stats_messages_updated AFTER UPDATE ON messages
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_messages_changed();
CREATE TRIGGER stats_messages_deleted AFTER DELETE ON messages
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION stats_messages_changed();

-- The part of a period that is not whole months is read from concerns: the covering index of
-- 00007 again, now with the dialogue flag, so that stays an index-only scan.
DROP INDEX concerns_stats;
CREATE INDEX concerns_stats ON concerns (received_at)
    INCLUDE (id, channel, mode, category, service_area, route_rule, outcome,
             acknowledged_at, decided_at, feedback_at, closed_at, acknowledge_by, feedback_by, dialogue);
-- Clocks overdue depend on the moment asked, so they are counted at query time, over the few
-- concerns still waiting for the step.
CREATE INDEX concerns_stats_unacknowledged ON concerns (received_at) INCLUDE (acknowledge_by)
    WHERE acknowledged_at IS NULL;
CREATE INDEX concerns_stats_no_feedback ON concerns (received_at) INCLUDE (feedback_by)
    WHERE feedback_at IS NULL;

-- +goose Down
DROP INDEX concerns_stats_no_feedback;
DROP INDEX concerns_stats_unacknowledged;
DROP INDEX concerns_stats;
CREATE INDEX concerns_stats ON concerns (received_at)
    INCLUDE (id, channel, mode, category, service_area, route_rule, outcome,
             acknowledged_at, decided_at, feedback_at, closed_at, acknowledge_by, feedback_by);
DROP TRIGGER stats_messages_deleted ON messages;
DROP TRIGGER stats_messages_updated ON messages;
DROP TRIGGER stats_messages_inserted ON messages;
DROP FUNCTION stats_messages_changed();
DROP TRIGGER stats_concerns_truncated ON concerns;
DROP FUNCTION stats_concerns_truncated();
DROP TRIGGER stats_concerns_deleted ON concerns;
DROP TRIGGER stats_concerns_updated ON concerns;
DROP TRIGGER stats_concerns_inserted ON concerns;
DROP FUNCTION stats_concerns_inserted();
DROP FUNCTION stats_concerns_deleted();
DROP FUNCTION stats_concerns_updated();
DROP FUNCTION stats_concern_times(timestamptz, timestamptz, timestamptz, timestamptz, timestamptz);
DROP FUNCTION stats_concern_cells(integer, timestamptz, text, text, text, text, text, text, timestamptz,
    timestamptz, timestamptz, timestamptz, boolean);
DROP TABLE stats_concern_times;
DROP TABLE stats_concern_counts;
DROP FUNCTION stats_hours(timestamptz, timestamptz);
DROP FUNCTION stats_month(timestamptz);
ALTER TABLE concerns DROP COLUMN dialogue;
