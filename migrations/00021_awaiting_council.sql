-- +goose Up
-- Whose turn it is in a concern's conversation: true once the reporter has written (a message or
-- evidence) and no member of staff has answered since. The queue shows it and filters on it
-- ("waiting for us"); times are kept to the hour, so they cannot say who wrote last.
ALTER TABLE concerns ADD COLUMN awaiting_council boolean NOT NULL DEFAULT false;
UPDATE concerns c SET awaiting_council = true
FROM (SELECT DISTINCT ON (concern_id) concern_id, author FROM messages
      WHERE author IN ('reporter', 'staff') ORDER BY concern_id, id DESC) last
WHERE last.concern_id = c.id AND last.author = 'reporter';

-- +goose Down
ALTER TABLE concerns DROP COLUMN awaiting_council;
