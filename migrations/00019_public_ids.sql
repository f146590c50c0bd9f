-- +goose Up
-- Public ids. Every URL, API path, e-mail link and page names a concern, message, attachment,
-- investigation or identity request by a random UUID: a serial in a URL tells anyone who
-- files two reports, or sees two cases, how many came in between and which came first. The
-- serials stay as internal keys (joins, foreign keys, the triage index) and never leave the
-- database. The DEFAULT fills existing rows and keeps the batched concern INSERT unchanged.
ALTER TABLE concerns ADD COLUMN public_id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE messages ADD COLUMN public_id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE attachments ADD COLUMN public_id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE investigations ADD COLUMN public_id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE identity_requests ADD COLUMN public_id uuid NOT NULL DEFAULT gen_random_uuid();
CREATE UNIQUE INDEX concerns_public_id ON concerns (public_id);
CREATE UNIQUE INDEX messages_public_id ON messages (public_id);
CREATE UNIQUE INDEX attachments_public_id ON attachments (public_id);
CREATE UNIQUE INDEX investigations_public_id ON investigations (public_id);
CREATE UNIQUE INDEX identity_requests_public_id ON identity_requests (public_id);
-- The queue breaks ties on a deadline (kept to the hour, like the reporter's times) by public
-- id rather than serial: in serial order the list itself would tell which came first. The
-- index stops at the deadline: an incremental sort orders each hour's few rows by public id,
-- and a filing appends to its hour instead of landing at a random place in it.
DROP INDEX concerns_triage;
CREATE INDEX concerns_triage ON concerns ((NOT safeguarding), next_deadline)
    WHERE closed_at IS NULL AND shredded_at IS NULL;
-- New investigation references are random (I-XXXX-XXXX, drawn by the portal) rather than
-- I-<year>-<serial>; references already given out stay as they are, so nothing to change here.

-- +goose Down
-- Investigation references drawn at random stay: they are valid text references.
DROP INDEX concerns_triage;
CREATE INDEX concerns_triage ON concerns ((NOT safeguarding), next_deadline, id)
    WHERE closed_at IS NULL AND shredded_at IS NULL;
ALTER TABLE identity_requests DROP COLUMN public_id;
ALTER TABLE investigations DROP COLUMN public_id;
ALTER TABLE attachments DROP COLUMN public_id;
ALTER TABLE messages DROP COLUMN public_id;
ALTER TABLE concerns DROP COLUMN public_id;
