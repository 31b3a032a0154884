-- hookd SQLite schema, version 3: scheduled messages (Svix `deliverAt`).
-- Released migrations are never edited.

-- Not delivered before this time (ms since the epoch); NULL: at once. The
-- deliveries of a scheduled message carry it as next_attempt_at, held by no
-- node until due, so waiting costs no memory and no work.
ALTER TABLE messages ADD COLUMN deliver_at INTEGER;
