-- +goose Up
-- Route holders learn of a new concern by e-mail. Writing their notifications with the report
-- cost a sixth of PostgreSQL's work per report filed: a row per holder, three indexes on each
-- and a foreign-key check each. Now a report writes one small row here (the holders'
-- addresses, worked out by the application), and the notifier turns pending rows into
-- notifications in bulk, in one statement that also deletes them, just before it sends (every
-- few seconds). The e-mails go when they did: safeguarding at once, the rest at the hour after
-- filing. No foreign key, to keep filing cheap: the notifier drops a row whose concern is gone.
CREATE TABLE routed_outbox (
    concern_id  bigint PRIMARY KEY,
    recipients  text[] NOT NULL
);

-- +goose Down
INSERT INTO notifications (recipient, kind, concern_id, reference, dedupe_key, created_at, not_before)
SELECT r.recipient, 'routed', c.id, c.reference, 'routed:' || c.id || ':' || r.recipient, c.received_at,
       CASE WHEN c.safeguarding THEN c.received_at ELSE c.received_at + interval '1 hour' END
FROM routed_outbox o JOIN concerns c ON c.id = o.concern_id, unnest(o.recipients) r (recipient)
ON CONFLICT (dedupe_key) DO NOTHING;
DROP TABLE routed_outbox;
