-- Customer themes ("customer secrets"): city-wide labels (e.g. "billing confusion", "no call
-- back") that CSOs and staff apply to feedback, with keywords that drive the suggestions.
CREATE TABLE themes (
    theme_id     text        NOT NULL PRIMARY KEY,
    display_name text        NOT NULL,
    keywords     text        NOT NULL, -- comma-separated, lowercase
    created_by   text        NOT NULL,
    revision     bigint      NOT NULL,
    create_time  timestamptz NOT NULL
);
-- City-wide labels: every officer reads them; the Chief and CSOs add them.
ALTER TABLE themes ENABLE ROW LEVEL SECURITY;
ALTER TABLE themes FORCE ROW LEVEL SECURITY;
CREATE POLICY themes_read ON themes FOR SELECT USING (true);
CREATE POLICY themes_add ON themes FOR INSERT
    WITH CHECK ((SELECT current_setting('app.role', true)) IN ('chief', 'cso'));
GRANT SELECT, INSERT ON themes TO cityserve_app;

-- Which themes a piece of feedback carries: tenant data of the feedback's department.
CREATE TABLE feedback_themes (
    department_id text        NOT NULL REFERENCES departments (department_id),
    feedback_id   text        NOT NULL,
    theme_id      text        NOT NULL REFERENCES themes (theme_id),
    tagged_by     text        NOT NULL,
    create_time   timestamptz NOT NULL,
    PRIMARY KEY (department_id, feedback_id, theme_id)
);
CREATE INDEX feedback_themes_by_theme ON feedback_themes (theme_id, department_id);
ALTER TABLE feedback_themes ENABLE ROW LEVEL SECURITY;
ALTER TABLE feedback_themes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON feedback_themes
    USING (
        (SELECT current_setting('app.role', true)) IN ('chief', 'auditor')
        OR department_id = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[])
    )
    WITH CHECK (
        (SELECT current_setting('app.role', true)) = 'chief'
        OR department_id = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[])
    );
GRANT SELECT, INSERT, DELETE ON feedback_themes TO cityserve_app;
