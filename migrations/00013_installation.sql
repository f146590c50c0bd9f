-- +goose Up
-- One random id per installation. A blob folder records the id of the database it belongs to,
-- so two installations pointed at one folder are refused instead of sweeping each other's files.
CREATE TABLE installation (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    created_at  timestamptz NOT NULL DEFAULT date_trunc('hour', now())
);
CREATE UNIQUE INDEX installation_one_row ON installation ((true));
INSERT INTO installation DEFAULT VALUES;

-- +goose Down
DROP TABLE installation;
