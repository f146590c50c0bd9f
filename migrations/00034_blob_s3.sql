-- +goose Up
-- A blob's bytes may be an object in an S3-compatible bucket (CANDOUR_BLOB_URL), named by the
-- blob id under the bucket's prefix. Blobs stored before keep opening from where they are.
ALTER TABLE blobs DROP CONSTRAINT blobs_store_check;
ALTER TABLE blobs ADD CONSTRAINT blobs_store_check CHECK (store IN ('pg', 'fs', 's3'));

-- +goose Down
ALTER TABLE blobs DROP CONSTRAINT blobs_store_check;
ALTER TABLE blobs ADD CONSTRAINT blobs_store_check CHECK (store IN ('pg', 'fs'));
