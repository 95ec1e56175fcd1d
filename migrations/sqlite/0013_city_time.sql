-- City time: the city's calendar, departments' overrides, and which clock a target counts on.
-- A target on the 'business' clock counts business days and opening hours of the department's
-- calendar; 'calendar' (every target until now) counts wall-clock time.
ALTER TABLE departments ADD COLUMN default_clock TEXT NOT NULL DEFAULT 'calendar'
    CHECK (default_clock IN ('calendar', 'business'));
ALTER TABLE service_standards ADD COLUMN clock TEXT NOT NULL DEFAULT 'calendar'
    CHECK (clock IN ('calendar', 'business'));

-- The city's calendar (time zone, opening hours, holidays) as one JSON document; at most one row.
-- No row: the default (UTC, Monday to Friday 09:00-17:00, no holidays).
CREATE TABLE city_calendar (
    calendar_id INTEGER NOT NULL PRIMARY KEY CHECK (calendar_id = 1),
    body        TEXT    NOT NULL,
    revision    INTEGER NOT NULL,
    update_time INTEGER NOT NULL
);

-- A department's override (its own hours, closures, whether it opens on city holidays).
CREATE TABLE department_calendars (
    department_id TEXT    NOT NULL PRIMARY KEY REFERENCES departments (department_id),
    body          TEXT    NOT NULL,
    revision      INTEGER NOT NULL,
    update_time   INTEGER NOT NULL
);

-- The resident's wait: when the resident first contacted the city about a case, carried across
-- hand-offs (NULL for cases opened before this migration and for imported history: their own
-- receipt).
ALTER TABLE cases ADD COLUMN first_contact_at INTEGER;

-- No floods: a breach scan that finds many breaches against one department at once sends one
-- digest escalation (the count, the oldest cases); the breaches it covers are recorded so later
-- scans pass them by.
ALTER TABLE escalations ADD COLUMN breach_count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE escalations ADD COLUMN digest_cases TEXT NOT NULL DEFAULT ''; -- case names, one a line
CREATE TABLE escalation_covers (
    department_id TEXT NOT NULL REFERENCES departments (department_id),
    dedupe_key    TEXT NOT NULL,
    escalation_id TEXT NOT NULL,
    PRIMARY KEY (department_id, dedupe_key)
);

-- A case waiting on the resident stops its clocks: since when it waits (NULL: it does not), and
-- how long it waited before in all (its due times count from the receipt plus that).
ALTER TABLE cases ADD COLUMN waiting_since INTEGER;
ALTER TABLE cases ADD COLUMN waited_secs INTEGER NOT NULL DEFAULT 0;
