-- Service accounts: the city's internal applications, registered by the Chief with the
-- departments each may act for. A service token is honoured only for an active account and only
-- for those departments, whatever its claims say. `client_id` is the `sub` of the application's
-- client-credentials tokens at the city's identity provider ('' for none), unique when set.
CREATE TABLE service_accounts (
    account_id   TEXT    NOT NULL PRIMARY KEY,
    display_name TEXT    NOT NULL,
    departments  TEXT    NOT NULL, -- comma-separated department IDs, sorted
    client_id    TEXT    NOT NULL DEFAULT '',
    status       TEXT    NOT NULL CHECK (status IN ('active', 'inactive')),
    created_by   TEXT    NOT NULL,
    revision     INTEGER NOT NULL,
    create_time  INTEGER NOT NULL,
    update_time  INTEGER NOT NULL
);
CREATE UNIQUE INDEX service_accounts_by_client ON service_accounts (client_id) WHERE client_id <> '';
