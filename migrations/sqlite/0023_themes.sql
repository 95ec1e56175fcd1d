-- Customer themes ("customer secrets"): city-wide labels (e.g. "billing confusion", "no call
-- back") that CSOs and staff apply to feedback, with keywords that drive the suggestions.
CREATE TABLE themes (
    theme_id     TEXT    NOT NULL PRIMARY KEY,
    display_name TEXT    NOT NULL,
    keywords     TEXT    NOT NULL, -- comma-separated, lowercase
    created_by   TEXT    NOT NULL,
    revision     INTEGER NOT NULL,
    create_time  INTEGER NOT NULL
);

-- Which themes a piece of feedback carries.
CREATE TABLE feedback_themes (
    department_id TEXT    NOT NULL REFERENCES departments (department_id),
    feedback_id   TEXT    NOT NULL,
    theme_id      TEXT    NOT NULL REFERENCES themes (theme_id),
    tagged_by     TEXT    NOT NULL,
    create_time   INTEGER NOT NULL,
    PRIMARY KEY (department_id, feedback_id, theme_id)
);
CREATE INDEX feedback_themes_by_theme ON feedback_themes (theme_id, department_id);
