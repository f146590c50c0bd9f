-- +goose Up
-- Which store holds a blob's bytes: 'pg' (blob_chunks, the default) or 'fs' (a file named by
-- the blob id under CANDOUR_BLOB_DIR). Existing blobs are in PostgreSQL and keep opening from
-- there after a blob folder is configured.
ALTER TABLE blobs ADD COLUMN store text NOT NULL DEFAULT 'pg' CHECK (store IN ('pg', 'fs'));

-- +goose Down
ALTER TABLE blobs DROP COLUMN store;
