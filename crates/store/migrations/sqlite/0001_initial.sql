-- hookd SQLite schema, version 1. Timestamps are milliseconds since the Unix epoch.
-- JSON columns hold arrays or objects as text. Released migrations are never edited.

CREATE TABLE orgs (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs(id),
    app_id      TEXT,
    name        TEXT,
    hash        BLOB NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE TABLE applications (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs(id),
    uid         TEXT,
    name        TEXT NOT NULL,
    rate_limit  INTEGER,
    metadata    TEXT NOT NULL,
    -- Days message payloads are kept; NULL: the server's retention_period.
    retention_days INTEGER,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE UNIQUE INDEX applications_uid ON applications(org_id, uid) WHERE uid IS NOT NULL;
CREATE INDEX applications_org ON applications(org_id, id);

CREATE TABLE endpoints (
    id           TEXT PRIMARY KEY,
    app_id       TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    uid          TEXT,
    url          TEXT NOT NULL,
    description  TEXT NOT NULL,
    version      INTEGER NOT NULL,
    rate_limit   INTEGER,
    disabled     INTEGER NOT NULL,
    filter_types TEXT,
    channels     TEXT,
    metadata     TEXT NOT NULL,
    secret       TEXT NOT NULL,
    old_secrets  TEXT NOT NULL,
    headers      TEXT NOT NULL,
    -- Time of the first failure since the last success; drives auto-disable.
    failing_since INTEGER,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);
CREATE UNIQUE INDEX endpoints_uid ON endpoints(app_id, uid) WHERE uid IS NOT NULL;
CREATE INDEX endpoints_app ON endpoints(app_id, id);

CREATE TABLE event_types (
    org_id       TEXT NOT NULL REFERENCES orgs(id),
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    archived     INTEGER NOT NULL,
    deprecated   INTEGER NOT NULL,
    schemas      TEXT,
    feature_flags TEXT,
    group_name   TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (org_id, name)
);

CREATE TABLE messages (
    id          TEXT PRIMARY KEY,
    app_id      TEXT NOT NULL REFERENCES applications(id) ON DELETE CASCADE,
    event_type  TEXT NOT NULL,
    event_id    TEXT,
    payload     TEXT NOT NULL,
    channels    TEXT,
    tags        TEXT,
    created_at  INTEGER NOT NULL,
    -- When the payload (and its attempts' response bodies) are expunged.
    expires_at  INTEGER NOT NULL,
    expunged    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX messages_expiry ON messages(expires_at) WHERE expunged = 0;
CREATE UNIQUE INDEX messages_event_id ON messages(app_id, event_id) WHERE event_id IS NOT NULL;
CREATE INDEX messages_app ON messages(app_id, id);

-- One row per message x endpoint: the delivery engine's queue.
CREATE TABLE deliveries (
    msg_id          TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    endpoint_id     TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    app_id          TEXT NOT NULL,
    status          INTEGER NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_at INTEGER,
    -- 1 when the next attempt was asked for by a user (resend, recover).
    manual          INTEGER NOT NULL DEFAULT 0,
    -- The node whose delivery engine holds this delivery; NULL: nobody yet.
    lease_owner     TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (msg_id, endpoint_id)
);
CREATE INDEX deliveries_endpoint ON deliveries(endpoint_id, msg_id);
CREATE INDEX deliveries_owner ON deliveries(lease_owner, next_attempt_at) WHERE status = 1;

-- Nodes running a delivery engine, with their last sign of life.
CREATE TABLE nodes (
    id           TEXT PRIMARY KEY,
    heartbeat_at INTEGER NOT NULL
);

CREATE TABLE attempts (
    id              TEXT PRIMARY KEY,
    msg_id          TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    endpoint_id     TEXT NOT NULL REFERENCES endpoints(id) ON DELETE CASCADE,
    app_id          TEXT NOT NULL,
    url             TEXT NOT NULL,
    status          INTEGER NOT NULL,
    response_status INTEGER NOT NULL,
    response        TEXT NOT NULL,
    duration_ms     INTEGER NOT NULL,
    trigger_type    INTEGER NOT NULL,
    error_class     TEXT,
    created_at      INTEGER NOT NULL
);
CREATE INDEX attempts_msg ON attempts(msg_id, id);
CREATE INDEX attempts_endpoint ON attempts(endpoint_id, id);

CREATE TABLE idempotency_keys (
    org_id      TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status      INTEGER,
    body        BLOB,
    expires_at  INTEGER NOT NULL,
    PRIMARY KEY (org_id, key)
);
