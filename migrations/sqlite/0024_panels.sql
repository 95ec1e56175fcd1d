-- Customer feedback panels: members (resident data: keyed, erasable), sessions with who
-- attended, and findings with their outcomes.
CREATE TABLE panels (
    department_id TEXT    NOT NULL REFERENCES departments (department_id),
    panel_id      TEXT    NOT NULL,
    display_name  TEXT    NOT NULL,
    audience      TEXT    NOT NULL CHECK (audience IN ('residents', 'businesses', 'internal_customers')),
    city_wide     INTEGER NOT NULL,
    purpose       TEXT    NOT NULL,
    created_by    TEXT    NOT NULL,
    revision      INTEGER NOT NULL,
    create_time   INTEGER NOT NULL,
    PRIMARY KEY (department_id, panel_id)
);

-- Contact details live here until erased; the resident key ties them to the resident's other
-- data, so erasing the resident erases the member too.
CREATE TABLE panel_members (
    department_id TEXT    NOT NULL,
    panel_id      TEXT    NOT NULL,
    member_id     TEXT    NOT NULL,
    resident_key  TEXT,
    display_name  TEXT    NOT NULL,
    email         TEXT    NOT NULL,
    phone         TEXT    NOT NULL,
    organization  TEXT    NOT NULL,
    consent_time  INTEGER NOT NULL,
    erased        INTEGER NOT NULL,
    erase_time    INTEGER,
    create_time   INTEGER NOT NULL,
    PRIMARY KEY (department_id, panel_id, member_id),
    FOREIGN KEY (department_id, panel_id) REFERENCES panels (department_id, panel_id)
);
CREATE INDEX panel_members_by_resident ON panel_members (resident_key) WHERE resident_key IS NOT NULL;

CREATE TABLE panel_sessions (
    department_id TEXT    NOT NULL,
    panel_id      TEXT    NOT NULL,
    session_id    TEXT    NOT NULL,
    held_on       TEXT    NOT NULL, -- local date, YYYY-MM-DD
    agenda        TEXT    NOT NULL,
    executives    TEXT    NOT NULL, -- JSON array of titles and names
    officers      TEXT    NOT NULL, -- JSON array of officer resource names
    created_by    TEXT    NOT NULL,
    create_time   INTEGER NOT NULL,
    PRIMARY KEY (department_id, panel_id, session_id),
    FOREIGN KEY (department_id, panel_id) REFERENCES panels (department_id, panel_id)
);

-- Which members attended: rows outlive the member's details, so the count stays true.
CREATE TABLE panel_attendance (
    department_id TEXT NOT NULL,
    panel_id      TEXT NOT NULL,
    session_id    TEXT NOT NULL,
    member_id     TEXT NOT NULL,
    PRIMARY KEY (department_id, panel_id, session_id, member_id),
    FOREIGN KEY (department_id, panel_id, session_id) REFERENCES panel_sessions (department_id, panel_id, session_id),
    FOREIGN KEY (department_id, panel_id, member_id) REFERENCES panel_members (department_id, panel_id, member_id)
);

CREATE TABLE panel_findings (
    department_id    TEXT    NOT NULL,
    panel_id         TEXT    NOT NULL,
    finding_id       TEXT    NOT NULL,
    session_id       TEXT,
    summary          TEXT    NOT NULL,
    outcome          TEXT    NOT NULL
        CHECK (outcome IN ('open', 'initiative', 'dumb_rule', 'plan_focus', 'closed')),
    outcome_resource TEXT    NOT NULL,
    outcome_note     TEXT    NOT NULL,
    outcome_time     INTEGER,
    created_by       TEXT    NOT NULL,
    revision         INTEGER NOT NULL,
    create_time      INTEGER NOT NULL,
    update_time      INTEGER NOT NULL,
    PRIMARY KEY (department_id, panel_id, finding_id),
    FOREIGN KEY (department_id, panel_id) REFERENCES panels (department_id, panel_id)
);
-- The board report reads a quarter's outcomes city-wide.
CREATE INDEX panel_findings_by_outcome_time ON panel_findings (outcome_time) WHERE outcome_time IS NOT NULL;
