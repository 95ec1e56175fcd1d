-- Moments-of-truth observations: rubrics in versions (a revision adds a version; observations keep
-- the version they were scored on) and observations of touchpoints with their scores and the
-- coaching actions agreed (JSON, followed to done through the API).
CREATE TABLE rubric_versions (
    department_id TEXT    NOT NULL REFERENCES departments (department_id),
    rubric_id     TEXT    NOT NULL,
    version       INTEGER NOT NULL CHECK (version >= 1),
    display_name  TEXT    NOT NULL,
    items         TEXT    NOT NULL, -- JSON [{code, label}]
    author        TEXT    NOT NULL,
    create_time   INTEGER NOT NULL,
    PRIMARY KEY (department_id, rubric_id, version)
);

CREATE TABLE observations (
    department_id  TEXT    NOT NULL REFERENCES departments (department_id),
    observation_id TEXT    NOT NULL,
    touchpoint_id  TEXT    NOT NULL,
    rubric_id      TEXT    NOT NULL,
    rubric_version INTEGER NOT NULL,
    observer       TEXT    NOT NULL,
    served_by      TEXT,
    observe_time   INTEGER NOT NULL,
    scores         TEXT    NOT NULL, -- JSON [{code, score}]
    notes          TEXT    NOT NULL,
    coaching       TEXT    NOT NULL, -- JSON [{number, action, owner, due, status, done_time}]
    revision       INTEGER NOT NULL,
    create_time    INTEGER NOT NULL,
    update_time    INTEGER NOT NULL,
    PRIMARY KEY (department_id, observation_id),
    FOREIGN KEY (department_id, touchpoint_id) REFERENCES touchpoints (department_id, touchpoint_id),
    FOREIGN KEY (department_id, rubric_id, rubric_version)
        REFERENCES rubric_versions (department_id, rubric_id, version)
);
CREATE INDEX observations_by_touchpoint ON observations (department_id, touchpoint_id, observe_time);
