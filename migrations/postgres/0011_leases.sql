-- Leases of jobs that run on exactly one replica at a time (the NATS publisher): the holder renews
-- before `expires_at` (microseconds since the epoch); another replica takes an expired lease.
-- `position` is how far the job got (the publisher: the last event it published), saved by the
-- holder only, so the next holder resumes there.
-- City-wide and not tenant data: only the server's own system scope (role chief, no department)
-- reads or writes them.
CREATE TABLE leases (
    name       text   NOT NULL PRIMARY KEY,
    holder     text   NOT NULL,
    expires_at bigint NOT NULL,
    position   bigint
);
ALTER TABLE leases ENABLE ROW LEVEL SECURITY;
ALTER TABLE leases FORCE ROW LEVEL SECURITY;
CREATE POLICY leases_system ON leases
    USING ((SELECT current_setting('app.role', true)) = 'chief'
           AND (SELECT current_setting('app.tenant_ids', true)) = '');
GRANT SELECT, INSERT, UPDATE, DELETE ON leases TO cityserve_app;
