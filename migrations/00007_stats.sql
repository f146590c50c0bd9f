-- +goose Up
-- Statistics (issue 7) read a period's concerns by received_at and only ever need clear
-- columns. A covering index lets every statistics query over a year of concerns be an
-- index-only scan, whatever order the rows sit in on disk, instead of fetching the wide
-- (ciphertext-carrying) rows.
CREATE INDEX concerns_stats ON concerns (received_at)
    INCLUDE (id, channel, mode, category, service_area, route_rule, outcome,
             acknowledged_at, decided_at, feedback_at, closed_at, acknowledge_by, feedback_by);
-- Detriment reports are rare: a small partial index finds a period's without scanning messages.
CREATE INDEX messages_detriment ON messages (created_at) WHERE detriment;

-- +goose Down
DROP INDEX messages_detriment;
DROP INDEX concerns_stats;
