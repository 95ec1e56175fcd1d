-- The CSO network: officers, seat appointments with history, competencies, training records,
-- recognitions ("service heroes") and yearly customer-service plans with every revision.
-- Timestamps are INTEGER microseconds since the Unix epoch (UTC).

CREATE TABLE officers (
    department_id TEXT    NOT NULL REFERENCES departments (department_id),
    officer_id    TEXT    NOT NULL,
    display_name  TEXT    NOT NULL,
    email         TEXT    NOT NULL,
    title         TEXT    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('staff', 'auditor')),
    status        TEXT    NOT NULL CHECK (status IN ('active', 'inactive')),
    revision      INTEGER NOT NULL,
    create_time   INTEGER NOT NULL,
    update_time   INTEGER NOT NULL,
    PRIMARY KEY (department_id, officer_id)
);
-- Officer IDs are token subjects: unique city-wide.
CREATE UNIQUE INDEX officers_by_id ON officers (officer_id);

CREATE TABLE appointments (
    department_id  TEXT    NOT NULL,
    appointment_id TEXT    NOT NULL,
    seat           TEXT    NOT NULL CHECK (seat IN ('chief', 'cso')),
    officer_id     TEXT    NOT NULL,
    start_time     INTEGER NOT NULL,
    end_time       INTEGER,
    appointed_by   TEXT    NOT NULL,
    ended_by       TEXT,
    end_reason     TEXT    NOT NULL DEFAULT '',
    PRIMARY KEY (department_id, appointment_id),
    FOREIGN KEY (department_id, officer_id) REFERENCES officers (department_id, officer_id),
    CHECK (end_time IS NULL OR end_time >= start_time)
);
-- The seat invariants live in the database: one active CSO per department, one active Chief.
CREATE UNIQUE INDEX appointments_one_active_cso ON appointments (department_id)
    WHERE seat = 'cso' AND end_time IS NULL;
CREATE UNIQUE INDEX appointments_one_active_chief ON appointments (seat)
    WHERE seat = 'chief' AND end_time IS NULL;
CREATE INDEX appointments_by_officer ON appointments (officer_id);

-- History is kept: appointments end, they are never deleted, and an ended one never restarts.
CREATE TRIGGER appointments_no_delete BEFORE DELETE ON appointments
BEGIN
    SELECT RAISE(ABORT, 'appointments are history: end them, do not delete them');
END;
CREATE TRIGGER appointments_ended_stay_ended BEFORE UPDATE ON appointments
WHEN OLD.end_time IS NOT NULL
BEGIN
    SELECT RAISE(ABORT, 'an ended appointment cannot change');
END;

CREATE TABLE competencies (
    department_id TEXT    NOT NULL REFERENCES departments (department_id),
    competency_id TEXT    NOT NULL,
    display_name  TEXT    NOT NULL,
    description   TEXT    NOT NULL,
    required_for  TEXT    NOT NULL, -- comma-separated roles, sorted
    revision      INTEGER NOT NULL,
    create_time   INTEGER NOT NULL,
    update_time   INTEGER NOT NULL,
    PRIMARY KEY (department_id, competency_id)
);

CREATE TABLE training_records (
    department_id TEXT    NOT NULL,
    record_id     TEXT    NOT NULL,
    officer_id    TEXT    NOT NULL,
    competency_id TEXT    NOT NULL,
    complete_time INTEGER NOT NULL,
    expire_time   INTEGER,
    notes         TEXT    NOT NULL,
    recorded_by   TEXT    NOT NULL,
    create_time   INTEGER NOT NULL,
    PRIMARY KEY (department_id, record_id),
    FOREIGN KEY (department_id, officer_id) REFERENCES officers (department_id, officer_id),
    FOREIGN KEY (department_id, competency_id) REFERENCES competencies (department_id, competency_id),
    CHECK (expire_time IS NULL OR expire_time > complete_time)
);
CREATE INDEX training_records_by_officer ON training_records (department_id, officer_id, record_id);

CREATE TABLE recognitions (
    department_id  TEXT    NOT NULL,
    recognition_id TEXT    NOT NULL,
    officer_id     TEXT    NOT NULL,
    recognized_by  TEXT    NOT NULL,
    story          TEXT    NOT NULL,
    feedback       TEXT,
    create_time    INTEGER NOT NULL,
    PRIMARY KEY (department_id, recognition_id),
    FOREIGN KEY (department_id, officer_id) REFERENCES officers (department_id, officer_id)
);
CREATE INDEX recognitions_by_officer ON recognitions (department_id, officer_id);
CREATE INDEX recognitions_newest ON recognitions (recognition_id);

CREATE TABLE plans (
    department_id  TEXT    NOT NULL REFERENCES departments (department_id),
    year           INTEGER NOT NULL,
    content        TEXT    NOT NULL, -- JSON
    status         TEXT    NOT NULL CHECK (status IN ('draft', 'submitted', 'changes_requested', 'approved')),
    review_comment TEXT    NOT NULL,
    revision       INTEGER NOT NULL,
    create_time    INTEGER NOT NULL,
    update_time    INTEGER NOT NULL,
    PRIMARY KEY (department_id, year)
);

CREATE TABLE plan_revisions (
    department_id TEXT    NOT NULL,
    year          INTEGER NOT NULL,
    revision      INTEGER NOT NULL,
    change        TEXT    NOT NULL,
    content       TEXT    NOT NULL, -- JSON
    status        TEXT    NOT NULL,
    comment       TEXT    NOT NULL,
    author        TEXT    NOT NULL,
    create_time   INTEGER NOT NULL,
    PRIMARY KEY (department_id, year, revision),
    FOREIGN KEY (department_id, year) REFERENCES plans (department_id, year)
);
CREATE TRIGGER plan_revisions_no_update BEFORE UPDATE ON plan_revisions
BEGIN
    SELECT RAISE(ABORT, 'plan revisions are append-only');
END;
CREATE TRIGGER plan_revisions_no_delete BEFORE DELETE ON plan_revisions
BEGIN
    SELECT RAISE(ABORT, 'plan revisions are append-only');
END;
