-- The Open311 GeoReport v2 gateway: which client filed a request, notes shown to the public as
-- status notes, and the API keys of Open311 clients (stored hashed).

-- The Open311 client that filed the feedback (NULL for everything else).
ALTER TABLE feedback ADD COLUMN source TEXT;
CREATE INDEX feedback_by_source ON feedback (received_at, department_id, feedback_id) WHERE source IS NOT NULL;

-- A public note is published as the request's `status_notes`.
ALTER TABLE case_entries ADD COLUMN public INTEGER NOT NULL DEFAULT 0 CHECK (public IN (0, 1));

-- City-wide: a key is bound to a client, not to a department.
CREATE TABLE api_keys (
    key_id      TEXT    NOT NULL PRIMARY KEY,
    client_name TEXT    NOT NULL,
    key_hash    TEXT    NOT NULL, -- SHA-256 of the secret part, hex
    created_by  TEXT    NOT NULL,
    create_time INTEGER NOT NULL,
    revoked_by  TEXT,
    revoke_time INTEGER
);
