-- +goose Up
-- Issue 20: the queue's index carries every column the queue shows and filters on, so a page
-- is read from the index alone (an index-only scan) instead of fetching each row from a table
-- that, at 1,000,000 concerns, is four times the size of shared_buffers: a Monitoring
-- Officer's filtered page read 446-570 table pages from the kernel's cache for 50 rows, and a
-- service lead's first page 1,700 (2,000 rows tested, most of them not theirs). The public id
-- joins the key, as the queue's tie-breaker, so no sort is left either. Only open concerns are
-- in it, and the route (the service lead's condition) is the widest part: about 120 MB at
-- 300,000 open concerns, against 6 MB before; each filing writes one wider index entry.
DROP INDEX concerns_triage;
CREATE INDEX concerns_triage ON concerns (council_id, (NOT safeguarding), next_deadline, public_id)
    INCLUDE (id, reference, channel, mode, service_area, category, safeguarding, status, route_rule, received_at,
        acknowledge_by, decide_by, feedback_by, acknowledged_at, decided_at, feedback_at, awaiting_council,
        named_keys, route, referred_email, referred_to)
    WHERE closed_at IS NULL AND shredded_at IS NULL;

-- +goose Down
DROP INDEX concerns_triage;
CREATE INDEX concerns_triage ON concerns (council_id, (NOT safeguarding), next_deadline)
    WHERE closed_at IS NULL AND shredded_at IS NULL;
