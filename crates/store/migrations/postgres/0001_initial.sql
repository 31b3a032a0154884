-- hookd PostgreSQL schema, version 1: the tables of the SQLite schema
-- (../sqlite/0001_initial.sql), column for column, so both stores behave alike.
-- Timestamps are milliseconds since the Unix epoch (BIGINT).
-- Ids and names are COLLATE "C": they compare and sort bytewise, as SQLite's
-- BINARY collation does, whatever the database's locale. Cursor pagination
-- relies on ids sorting in creation order.
-- JSON columns hold the text serde_json wrote. The message payload in
-- particular is TEXT, kept byte for byte: jsonb would reorder keys, drop
-- duplicate ones and reformat numbers.
-- Free text that may contain U+0000 (a receiver's response body), which
-- PostgreSQL TEXT cannot hold, is stored as UTF-8 in BYTEA.
-- Released migrations are never edited.

CREATE TABLE orgs (
    id          TEXT COLLATE "C" PRIMARY KEY,
    name        TEXT COLLATE "C" NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT COLLATE "C" PRIMARY KEY,
    org_id      TEXT COLLATE "C" NOT NULL REFERENCES orgs(id),
    app_id      TEXT COLLATE "C",
    name        TEXT,
    hash        BYTEA NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
-- Deleting an application deletes its keys.
CREATE INDEX api_keys_app ON api_keys(app_id) WHERE app_id IS NOT NULL;

CREATE TABLE applications (
    id          TEXT COLLATE "C" PRIMARY KEY,
    org_id      TEXT COLLATE "C" NOT NULL REFERENCES orgs(id),
    uid         TEXT COLLATE "C",
    name        TEXT NOT NULL,
    rate_limit  INTEGER,
    metadata    TEXT NOT NULL,
    -- Days message payloads are kept; NULL: the server's retention_period.
    retention_days INTEGER,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE UNIQUE INDEX applications_uid ON applications(org_id, uid) WHERE uid IS NOT NULL;
CREATE INDEX applications_org ON applications(org_id, id);

CREATE TABLE endpoints (
    id           TEXT COLLATE "C" PRIMARY KEY,
    app_id       TEXT COLLATE "C" NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    uid          TEXT COLLATE "C",
    url          TEXT NOT NULL,
    description  TEXT NOT NULL,
    version      INTEGER NOT NULL,
    rate_limit   INTEGER,
    disabled     BOOLEAN NOT NULL,
    filter_types TEXT,
    channels     TEXT,
    metadata     TEXT NOT NULL,
    secret       TEXT NOT NULL,
    old_secrets  TEXT NOT NULL,
    headers      TEXT NOT NULL,
    -- Time of the first failure since the last success; drives auto-disable.
    failing_since BIGINT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE UNIQUE INDEX endpoints_uid ON endpoints(app_id, uid) WHERE uid IS NOT NULL;
CREATE INDEX endpoints_app ON endpoints(app_id, id);

CREATE TABLE event_types (
    org_id       TEXT COLLATE "C" NOT NULL REFERENCES orgs(id),
    name         TEXT COLLATE "C" NOT NULL,
    description  TEXT NOT NULL,
    archived     BOOLEAN NOT NULL,
    deprecated   BOOLEAN NOT NULL,
    schemas      TEXT,
    feature_flags TEXT,
    group_name   TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (org_id, name)
);

CREATE TABLE messages (
    id          TEXT COLLATE "C" PRIMARY KEY,
    app_id      TEXT COLLATE "C" NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    event_type  TEXT COLLATE "C" NOT NULL,
    event_id    TEXT COLLATE "C",
    payload     TEXT NOT NULL,
    channels    TEXT,
    tags        TEXT,
    created_at  BIGINT NOT NULL,
    -- When the payload (and its attempts' response bodies) are expunged.
    expires_at  BIGINT NOT NULL,
    expunged    BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX messages_expiry ON messages(expires_at) WHERE NOT expunged;
CREATE UNIQUE INDEX messages_event_id ON messages(app_id, event_id) WHERE event_id IS NOT NULL;
CREATE INDEX messages_app ON messages(app_id, id);

-- One row per message x endpoint: the delivery engine's queue.
-- Status: 0 success, 1 pending, 2 fail, 3 sending.
CREATE TABLE deliveries (
    msg_id          TEXT COLLATE "C" NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    endpoint_id     TEXT COLLATE "C" NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    app_id          TEXT COLLATE "C" NOT NULL,
    status          SMALLINT NOT NULL,
    attempts        BIGINT NOT NULL,
    next_attempt_at BIGINT,
    -- true when the next attempt was asked for by a user (resend, recover).
    manual          BOOLEAN NOT NULL DEFAULT false,
    -- The node whose delivery engine holds this delivery; NULL: nobody yet.
    lease_owner     TEXT COLLATE "C",
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    PRIMARY KEY (msg_id, endpoint_id)
);
CREATE INDEX deliveries_endpoint ON deliveries(endpoint_id, msg_id);
CREATE INDEX deliveries_owner ON deliveries(lease_owner, next_attempt_at) WHERE status = 1;

-- Nodes running a delivery engine, with their last sign of life.
CREATE TABLE nodes (
    id           TEXT COLLATE "C" PRIMARY KEY,
    heartbeat_at BIGINT NOT NULL
);

CREATE TABLE attempts (
    id              TEXT COLLATE "C" PRIMARY KEY,
    msg_id          TEXT COLLATE "C" NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    endpoint_id     TEXT COLLATE "C" NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    app_id          TEXT COLLATE "C" NOT NULL,
    url             TEXT NOT NULL,
    status          SMALLINT NOT NULL,
    response_status INTEGER NOT NULL,
    -- UTF-8 text; BYTEA because a response body may contain U+0000.
    response        BYTEA NOT NULL,
    duration_ms     BIGINT NOT NULL,
    trigger_type    SMALLINT NOT NULL,
    error_class     TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX attempts_msg ON attempts(msg_id, id);
CREATE INDEX attempts_endpoint ON attempts(endpoint_id, id);

CREATE TABLE idempotency_keys (
    org_id      TEXT COLLATE "C" NOT NULL,
    key         TEXT COLLATE "C" NOT NULL,
    fingerprint TEXT NOT NULL,
    status      INTEGER,
    body        BYTEA,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (org_id, key)
);
-- Expired keys are swept in small batches.
CREATE INDEX idempotency_keys_expiry ON idempotency_keys(expires_at);
