-- hookd PostgreSQL schema, version 4: ordered (FIFO) endpoints, a hookd extension.
-- Released migrations are never edited.

-- One delivery at a time, in acceptance order.
ALTER TABLE endpoints ADD COLUMN fifo BOOLEAN NOT NULL DEFAULT false;
-- The node that delivers this FIFO endpoint's messages (its lane); another
-- node takes the lane over when this one stops heartbeating.
ALTER TABLE endpoints ADD COLUMN fifo_owner TEXT COLLATE "C";
CREATE INDEX endpoints_fifo ON endpoints (id) WHERE fifo;

-- An ordered lane's head (its oldest pending delivery) without a walk over
-- the endpoint's delivered history.
CREATE INDEX deliveries_pending_endpoint ON deliveries(endpoint_id, msg_id) WHERE status = 1;
