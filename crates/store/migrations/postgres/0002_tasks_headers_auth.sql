-- hookd PostgreSQL schema, version 2: the tables and columns of
-- ../sqlite/0002_tasks_headers_auth.sql. Released migrations are never edited.

CREATE TABLE background_tasks (
    id          TEXT COLLATE "C" PRIMARY KEY,
    org_id      TEXT COLLATE "C" NOT NULL REFERENCES orgs(id),
    app_id      TEXT COLLATE "C",
    task        TEXT NOT NULL,
    status      TEXT NOT NULL,
    data        TEXT NOT NULL,
    node        TEXT COLLATE "C",
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX background_tasks_org ON background_tasks(org_id, id);
CREATE INDEX background_tasks_running ON background_tasks(node) WHERE status = 'running';

ALTER TABLE attempts ADD COLUMN sent_headers TEXT;
-- JSON text: serde_json escapes U+0000, which TEXT cannot hold.
ALTER TABLE attempts ADD COLUMN response_headers TEXT;

ALTER TABLE event_types ADD COLUMN retry_schedule TEXT;

CREATE TABLE endpoint_auth (
    endpoint_id TEXT COLLATE "C" PRIMARY KEY REFERENCES endpoints(id) ON DELETE CASCADE,
    oauth       TEXT,
    mtls        TEXT,
    server_ca   TEXT,
    updated_at  BIGINT NOT NULL
);

ALTER TABLE api_keys ADD COLUMN kind TEXT NOT NULL DEFAULT 'api';
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
ALTER TABLE api_keys ADD COLUMN capabilities TEXT;
ALTER TABLE api_keys ADD COLUMN session_id TEXT;
