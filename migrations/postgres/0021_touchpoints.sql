-- Touchpoints: the places and channels where residents meet a department (a counter, a phone
-- line, a web form, a field crew), and the touchpoint and officer a contact names as the ones
-- that served the resident (the moment of truth it is about).
CREATE TABLE touchpoints (
    department_id text        NOT NULL REFERENCES departments (department_id),
    touchpoint_id text        NOT NULL,
    display_name  text        NOT NULL,
    kind          text        NOT NULL
        CHECK (kind IN ('counter', 'phone_line', 'web_form', 'field_crew', 'mailbox', 'other')),
    channel       text        NOT NULL,
    location      text        NOT NULL,
    hours         text        NOT NULL, -- JSON opening hours; '' for the department's calendar
    status        text        NOT NULL CHECK (status IN ('active', 'retired')),
    created_by    text        NOT NULL,
    revision      bigint      NOT NULL,
    create_time   timestamptz NOT NULL,
    update_time   timestamptz NOT NULL,
    PRIMARY KEY (department_id, touchpoint_id)
);
ALTER TABLE touchpoints ENABLE ROW LEVEL SECURITY;
ALTER TABLE touchpoints FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON touchpoints
    USING (
        (SELECT current_setting('app.role', true)) IN ('chief', 'auditor')
        OR department_id = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[])
    )
    WITH CHECK (
        (SELECT current_setting('app.role', true)) = 'chief'
        OR department_id = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[])
    );
GRANT SELECT, INSERT, UPDATE ON touchpoints TO cityserve_app;

-- Checked when written (an active touchpoint and an active officer of the same department).
ALTER TABLE feedback ADD COLUMN touchpoint_id text;
ALTER TABLE feedback ADD COLUMN served_by text;
CREATE INDEX feedback_by_touchpoint ON feedback (department_id, touchpoint_id) WHERE touchpoint_id IS NOT NULL;
