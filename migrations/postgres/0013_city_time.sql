-- City time: the city's calendar, departments' overrides, and which clock a target counts on.
-- A target on the 'business' clock counts business days and opening hours of the department's
-- calendar; 'calendar' (every target until now) counts wall-clock time.
ALTER TABLE departments ADD COLUMN default_clock text NOT NULL DEFAULT 'calendar'
    CHECK (default_clock IN ('calendar', 'business'));
ALTER TABLE service_standards ADD COLUMN clock text NOT NULL DEFAULT 'calendar'
    CHECK (clock IN ('calendar', 'business'));

-- The city's calendar (time zone, opening hours, holidays) as one JSON document; at most one row.
-- No row: the default (UTC, Monday to Friday 09:00-17:00, no holidays).
CREATE TABLE city_calendar (
    calendar_id integer     NOT NULL PRIMARY KEY CHECK (calendar_id = 1),
    body        text        NOT NULL,
    revision    bigint      NOT NULL,
    update_time timestamptz NOT NULL
);

-- A department's override (its own hours, closures, whether it opens on city holidays).
CREATE TABLE department_calendars (
    department_id text        NOT NULL PRIMARY KEY REFERENCES departments (department_id),
    body          text        NOT NULL,
    revision      bigint      NOT NULL,
    update_time   timestamptz NOT NULL
);

-- Row-level security. Every department's clocks read the city calendar, so every session sees
-- it; only the Chief writes it. Overrides are tenant data (the loop at the end).
ALTER TABLE city_calendar ENABLE ROW LEVEL SECURITY;
ALTER TABLE city_calendar FORCE ROW LEVEL SECURITY;
CREATE POLICY city_read ON city_calendar FOR SELECT USING (true);
CREATE POLICY chief_write ON city_calendar FOR ALL
    USING ((SELECT current_setting('app.role', true)) = 'chief')
    WITH CHECK ((SELECT current_setting('app.role', true)) = 'chief');
GRANT SELECT, INSERT, UPDATE ON city_calendar, department_calendars TO cityserve_app;

-- The resident's wait: when the resident first contacted the city about a case, carried across
-- hand-offs (NULL for cases opened before this migration and for imported history: their own
-- receipt).
ALTER TABLE cases ADD COLUMN first_contact_at timestamptz;

-- No floods: a breach scan that finds many breaches against one department at once sends one
-- digest escalation (the count, the oldest cases); the breaches it covers are recorded so later
-- scans pass them by.
ALTER TABLE escalations ADD COLUMN breach_count integer NOT NULL DEFAULT 1;
ALTER TABLE escalations ADD COLUMN digest_cases text NOT NULL DEFAULT ''; -- case names, one a line
CREATE TABLE escalation_covers (
    department_id text NOT NULL REFERENCES departments (department_id),
    dedupe_key    text NOT NULL,
    escalation_id text NOT NULL,
    PRIMARY KEY (department_id, dedupe_key)
);
GRANT SELECT, INSERT ON escalation_covers TO cityserve_app;

-- Row-level security of this migration's tenant tables (department overrides, digest covers):
-- the tenant_isolation policy of 0001, one loop for both.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['department_calendars', 'escalation_covers'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$
            CREATE POLICY tenant_isolation ON %I
            USING (
                (SELECT current_setting('app.role', true)) IN ('chief', 'auditor')
                OR department_id = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[])
            )
            WITH CHECK (
                (SELECT current_setting('app.role', true)) = 'chief'
                OR department_id = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[])
            )$p$, t);
    END LOOP;
END
$$;

-- A case waiting on the resident stops its clocks: since when it waits (NULL: it does not), and
-- how long it waited before in all (its due times count from the receipt plus that).
ALTER TABLE cases ADD COLUMN waiting_since timestamptz;
ALTER TABLE cases ADD COLUMN waited_secs bigint NOT NULL DEFAULT 0;
