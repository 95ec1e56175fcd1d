-- The Open311 GeoReport v2 gateway: which client filed a request, notes shown to the public as
-- status notes, and the API keys of Open311 clients (stored hashed).

-- The Open311 client that filed the feedback (NULL for everything else).
ALTER TABLE feedback ADD COLUMN source text;
CREATE INDEX feedback_by_source ON feedback (received_at, department_id, feedback_id) WHERE source IS NOT NULL;

-- A public note is published as the request's `status_notes`.
ALTER TABLE case_entries ADD COLUMN public boolean NOT NULL DEFAULT false;

-- City-wide: a key is bound to a client, not to a department. Only the Chief issues and revokes
-- keys; the gateway looks them up as the (read-only) auditor role; keys are never deleted.
CREATE TABLE api_keys (
    key_id      text        NOT NULL PRIMARY KEY,
    client_name text        NOT NULL,
    key_hash    text        NOT NULL, -- SHA-256 of the secret part, hex
    created_by  text        NOT NULL,
    create_time timestamptz NOT NULL,
    revoked_by  text,
    revoke_time timestamptz
);
ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY api_keys_read ON api_keys FOR SELECT
    USING ((SELECT current_setting('app.role', true)) IN ('chief', 'auditor'));
CREATE POLICY api_keys_issue ON api_keys FOR INSERT
    WITH CHECK ((SELECT current_setting('app.role', true)) = 'chief');
CREATE POLICY api_keys_revoke ON api_keys FOR UPDATE
    USING ((SELECT current_setting('app.role', true)) = 'chief');
GRANT SELECT, INSERT, UPDATE ON api_keys TO cityserve_app;
