-- Moments-of-truth observations: rubrics in versions (a revision adds a version; observations keep
-- the version they were scored on) and observations of touchpoints with their scores and the
-- coaching actions agreed (JSON, followed to done through the API).
CREATE TABLE rubric_versions (
    department_id text        NOT NULL REFERENCES departments (department_id),
    rubric_id     text        NOT NULL,
    version       integer     NOT NULL CHECK (version >= 1),
    display_name  text        NOT NULL,
    items         text        NOT NULL, -- JSON [{code, label}]
    author        text        NOT NULL,
    create_time   timestamptz NOT NULL,
    PRIMARY KEY (department_id, rubric_id, version)
);

CREATE TABLE observations (
    department_id  text        NOT NULL REFERENCES departments (department_id),
    observation_id text        NOT NULL,
    touchpoint_id  text        NOT NULL,
    rubric_id      text        NOT NULL,
    rubric_version integer     NOT NULL,
    observer       text        NOT NULL,
    served_by      text,
    observe_time   timestamptz NOT NULL,
    scores         text        NOT NULL, -- JSON [{code, score}]
    notes          text        NOT NULL,
    coaching       text        NOT NULL, -- JSON [{number, action, owner, due, status, done_time}]
    revision       bigint      NOT NULL,
    create_time    timestamptz NOT NULL,
    update_time    timestamptz NOT NULL,
    PRIMARY KEY (department_id, observation_id),
    FOREIGN KEY (department_id, touchpoint_id) REFERENCES touchpoints (department_id, touchpoint_id),
    FOREIGN KEY (department_id, rubric_id, rubric_version)
        REFERENCES rubric_versions (department_id, rubric_id, version)
);
CREATE INDEX observations_by_touchpoint ON observations (department_id, touchpoint_id, observe_time);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['rubric_versions', 'observations'] LOOP
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
GRANT SELECT, INSERT ON rubric_versions TO cityserve_app;
GRANT SELECT, INSERT, UPDATE ON observations TO cityserve_app;
