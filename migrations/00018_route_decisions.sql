-- +goose Up
-- Every web report that names nobody gets one of a few hundred routing decisions, and each
-- concern stores its decision whole (about 830 bytes of jsonb): sending and parsing it again for
-- every report was a tenth of filing's cost. Filing now keeps each such decision here once,
-- under the SHA-256 of its JSON, and sends only the hash once the decision is known to be
-- stored; the INSERT copies the decision into concerns.route from here, so the concern row and
-- everything that reads it are as before. Decisions about named people are never kept here:
-- they go into their concern only. Rows are never deleted (a concern being filed may name one).
CREATE TABLE route_decisions (
    hash      bytea PRIMARY KEY CHECK (length(hash) = 32),
    decision  jsonb NOT NULL
);

-- +goose Down
DROP TABLE route_decisions;
