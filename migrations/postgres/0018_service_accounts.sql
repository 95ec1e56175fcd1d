-- Service accounts: the city's internal applications, registered by the Chief with the
-- departments each may act for. A service token is honoured only for an active account and only
-- for those departments, whatever its claims say. `client_id` is the `sub` of the application's
-- client-credentials tokens at the city's identity provider ('' for none), unique when set.
CREATE TABLE service_accounts (
    account_id   text        NOT NULL PRIMARY KEY,
    display_name text        NOT NULL,
    departments  text        NOT NULL, -- comma-separated department IDs, sorted
    client_id    text        NOT NULL DEFAULT '',
    status       text        NOT NULL CHECK (status IN ('active', 'inactive')),
    created_by   text        NOT NULL,
    revision     bigint      NOT NULL,
    create_time  timestamptz NOT NULL,
    update_time  timestamptz NOT NULL
);
CREATE UNIQUE INDEX service_accounts_by_client ON service_accounts (client_id) WHERE client_id <> '';
-- City-wide like API keys: the Chief writes, the Chief and auditors read (the standing check and
-- the identity provider's sign-in read as auditors).
ALTER TABLE service_accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE service_accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY service_accounts_read ON service_accounts FOR SELECT
    USING ((SELECT current_setting('app.role', true)) IN ('chief', 'auditor'));
CREATE POLICY service_accounts_register ON service_accounts FOR INSERT
    WITH CHECK ((SELECT current_setting('app.role', true)) = 'chief');
CREATE POLICY service_accounts_change ON service_accounts FOR UPDATE
    USING ((SELECT current_setting('app.role', true)) = 'chief');
GRANT SELECT, INSERT, UPDATE ON service_accounts TO cityserve_app;
