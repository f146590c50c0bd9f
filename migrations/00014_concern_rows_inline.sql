-- +goose Up
-- A typical concern row is about 3 KB (sealed content, route, keys), over PostgreSQL's 2 KB
-- toast threshold, so every report filed paid a second heap insert and index insert in the
-- toast table for its content. Rows up to a page now stay whole; long details still go out of
-- line. The reads that matter (triage, statistics) use indexes and never the heap of many rows.
ALTER TABLE concerns SET (toast_tuple_target = 8160);

-- +goose Down
ALTER TABLE concerns RESET (toast_tuple_target);
