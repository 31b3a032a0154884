-- hookd SQLite schema, version 2: background tasks, the headers of each
-- attempt, retry schedules per event type, endpoint authentication, portal
-- tokens. Released migrations are never edited.

-- Long work (recover, replays, broadcasts, bulk expunges) as Svix background
-- tasks. Status: running, finished, failed. `data` is the task's JSON result.
CREATE TABLE background_tasks (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs(id),
    app_id      TEXT,
    task        TEXT NOT NULL,
    status      TEXT NOT NULL,
    data        TEXT NOT NULL,
    -- The node running it: a task of a node that died is failed.
    node        TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX background_tasks_org ON background_tasks(org_id, id);

-- JSON: the headers sent (object) and received (array of [name, value]).
ALTER TABLE attempts ADD COLUMN sent_headers TEXT;
ALTER TABLE attempts ADD COLUMN response_headers TEXT;

-- JSON array of seconds; NULL: the server's retry_schedule.
ALTER TABLE event_types ADD COLUMN retry_schedule TEXT;

-- How hookd authenticates to an endpoint beyond signatures; each column is
-- JSON, sealed like signing secrets when an encryption key is set.
CREATE TABLE endpoint_auth (
    endpoint_id TEXT PRIMARY KEY REFERENCES endpoints(id) ON DELETE CASCADE,
    oauth       TEXT,
    mtls        TEXT,
    server_ca   TEXT,
    updated_at  INTEGER NOT NULL
);

-- Portal tokens are application-scoped keys that expire.
ALTER TABLE api_keys ADD COLUMN kind TEXT NOT NULL DEFAULT 'api';
ALTER TABLE api_keys ADD COLUMN expires_at INTEGER;
ALTER TABLE api_keys ADD COLUMN capabilities TEXT;
ALTER TABLE api_keys ADD COLUMN session_id TEXT;
