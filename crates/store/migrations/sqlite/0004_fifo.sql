-- hookd SQLite schema, version 4: ordered (FIFO) endpoints, a hookd extension.
-- Released migrations are never edited.

-- One delivery at a time, in acceptance order. (One node holds a SQLite
-- store, so there is no lane owner to record, unlike on PostgreSQL.)
ALTER TABLE endpoints ADD COLUMN fifo INTEGER NOT NULL DEFAULT 0;

-- An ordered lane's head (its oldest pending delivery) without a walk over
-- the endpoint's delivered history.
CREATE INDEX deliveries_pending_endpoint ON deliveries(endpoint_id, msg_id) WHERE status = 1;
