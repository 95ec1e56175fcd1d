-- Touchpoints: the places and channels where residents meet a department (a counter, a phone
-- line, a web form, a field crew), and the touchpoint and officer a contact names as the ones
-- that served the resident (the moment of truth it is about).
CREATE TABLE touchpoints (
    department_id TEXT    NOT NULL REFERENCES departments (department_id),
    touchpoint_id TEXT    NOT NULL,
    display_name  TEXT    NOT NULL,
    kind          TEXT    NOT NULL
        CHECK (kind IN ('counter', 'phone_line', 'web_form', 'field_crew', 'mailbox', 'other')),
    channel       TEXT    NOT NULL,
    location      TEXT    NOT NULL,
    hours         TEXT    NOT NULL, -- JSON opening hours; '' for the department's calendar
    status        TEXT    NOT NULL CHECK (status IN ('active', 'retired')),
    created_by    TEXT    NOT NULL,
    revision      INTEGER NOT NULL,
    create_time   INTEGER NOT NULL,
    update_time   INTEGER NOT NULL,
    PRIMARY KEY (department_id, touchpoint_id)
);

-- Checked when written (an active touchpoint and an active officer of the same department).
ALTER TABLE feedback ADD COLUMN touchpoint_id TEXT;
ALTER TABLE feedback ADD COLUMN served_by TEXT;
CREATE INDEX feedback_by_touchpoint ON feedback (department_id, touchpoint_id) WHERE touchpoint_id IS NOT NULL;
