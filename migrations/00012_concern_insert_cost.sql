-- Every index is paid for on each report filed: keep the ones the queue, the statistics and the
-- councillor's list read, and no others.

-- +goose Up
-- The first queue's index: the triage queue reads concerns_triage, and nothing orders by this.
DROP INDEX concerns_queue;
-- concerns_stats leads on received_at too.
DROP INDEX concerns_received;
-- A councillor's own concerns: few rows, and without this a scan of every concern.
CREATE INDEX concerns_created_by ON concerns (created_by, id) WHERE created_by IS NOT NULL;
-- Ciphertext does not compress: trying costs CPU on every insert for nothing.
ALTER TABLE concerns ALTER COLUMN content SET STORAGE EXTERNAL,
                     ALTER COLUMN identity_sealed SET STORAGE EXTERNAL,
                     ALTER COLUMN identity_open SET STORAGE EXTERNAL;

-- +goose Down
ALTER TABLE concerns ALTER COLUMN content SET STORAGE EXTENDED,
                     ALTER COLUMN identity_sealed SET STORAGE EXTENDED,
                     ALTER COLUMN identity_open SET STORAGE EXTENDED;
DROP INDEX concerns_created_by;
CREATE INDEX concerns_received ON concerns (received_at);
CREATE INDEX concerns_queue ON concerns (status, safeguarding DESC, acknowledge_by, id);
