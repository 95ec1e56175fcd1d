-- Customer feedback panels: members (resident data: keyed, erasable), sessions with who
-- attended, and findings with their outcomes. Every table is tenant data of the host department.
CREATE TABLE panels (
    department_id text        NOT NULL REFERENCES departments (department_id),
    panel_id      text        NOT NULL,
    display_name  text        NOT NULL,
    audience      text        NOT NULL CHECK (audience IN ('residents', 'businesses', 'internal_customers')),
    city_wide     boolean     NOT NULL,
    purpose       text        NOT NULL,
    created_by    text        NOT NULL,
    revision      bigint      NOT NULL,
    create_time   timestamptz NOT NULL,
    PRIMARY KEY (department_id, panel_id)
);

-- Contact details live here until erased; the resident key ties them to the resident's other
-- data, so erasing the resident erases the member too.
CREATE TABLE panel_members (
    department_id text        NOT NULL,
    panel_id      text        NOT NULL,
    member_id     text        NOT NULL,
    resident_key  text,
    display_name  text        NOT NULL,
    email         text        NOT NULL,
    phone         text        NOT NULL,
    organization  text        NOT NULL,
    consent_time  timestamptz NOT NULL,
    erased        boolean     NOT NULL,
    erase_time    timestamptz,
    create_time   timestamptz NOT NULL,
    PRIMARY KEY (department_id, panel_id, member_id),
    FOREIGN KEY (department_id, panel_id) REFERENCES panels (department_id, panel_id)
);
CREATE INDEX panel_members_by_resident ON panel_members (resident_key) WHERE resident_key IS NOT NULL;

CREATE TABLE panel_sessions (
    department_id text        NOT NULL,
    panel_id      text        NOT NULL,
    session_id    text        NOT NULL,
    held_on       text        NOT NULL, -- local date, YYYY-MM-DD
    agenda        text        NOT NULL,
    executives    text        NOT NULL, -- JSON array of titles and names
    officers      text        NOT NULL, -- JSON array of officer resource names
    created_by    text        NOT NULL,
    create_time   timestamptz NOT NULL,
    PRIMARY KEY (department_id, panel_id, session_id),
    FOREIGN KEY (department_id, panel_id) REFERENCES panels (department_id, panel_id)
);

-- Which members attended: rows outlive the member's details, so the count stays true.
CREATE TABLE panel_attendance (
    department_id text NOT NULL,
    panel_id      text NOT NULL,
    session_id    text NOT NULL,
    member_id     text NOT NULL,
    PRIMARY KEY (department_id, panel_id, session_id, member_id),
    FOREIGN KEY (department_id, panel_id, session_id) REFERENCES panel_sessions (department_id, panel_id, session_id),
    FOREIGN KEY (department_id, panel_id, member_id) REFERENCES panel_members (department_id, panel_id, member_id)
);

CREATE TABLE panel_findings (
    department_id    text        NOT NULL,
    panel_id         text        NOT NULL,
    finding_id       text        NOT NULL,
    session_id       text,
    summary          text        NOT NULL,
    outcome          text        NOT NULL
        CHECK (outcome IN ('open', 'initiative', 'dumb_rule', 'plan_focus', 'closed')),
    outcome_resource text        NOT NULL,
    outcome_note     text        NOT NULL,
    outcome_time     timestamptz,
    created_by       text        NOT NULL,
    revision         bigint      NOT NULL,
    create_time      timestamptz NOT NULL,
    update_time      timestamptz NOT NULL,
    PRIMARY KEY (department_id, panel_id, finding_id),
    FOREIGN KEY (department_id, panel_id) REFERENCES panels (department_id, panel_id)
);
-- The board report reads a quarter's outcomes city-wide.
CREATE INDEX panel_findings_by_outcome_time ON panel_findings (outcome_time) WHERE outcome_time IS NOT NULL;

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['panels', 'panel_members', 'panel_sessions', 'panel_attendance', 'panel_findings'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY tenant_isolation ON %I
            USING (
                (SELECT current_setting('app.role', true)) IN ('chief', 'auditor')
                OR department_id = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[])
            )
            WITH CHECK (
                (SELECT current_setting('app.role', true)) = 'chief'
                OR department_id = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[])
            )$p$, t);
    END LOOP;
END $$;
GRANT SELECT, INSERT ON panels, panel_sessions, panel_attendance TO cityserve_app;
GRANT SELECT, INSERT, UPDATE ON panel_members, panel_findings TO cityserve_app;
