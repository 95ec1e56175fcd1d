-- Departments (tenants), their service catalogue, idempotency keys, the audit log and the outbox.
-- Timestamps are INTEGER microseconds since the Unix epoch (UTC).

CREATE TABLE departments (
    department_id        TEXT    NOT NULL PRIMARY KEY,
    display_name         TEXT    NOT NULL,
    description          TEXT    NOT NULL,
    status               TEXT    NOT NULL CHECK (status IN ('active', 'archived')),
    default_ack_secs     INTEGER NOT NULL CHECK (default_ack_secs > 0),
    default_resolve_secs INTEGER NOT NULL CHECK (default_resolve_secs >= default_ack_secs),
    revision             INTEGER NOT NULL,
    create_time          INTEGER NOT NULL,
    update_time          INTEGER NOT NULL
);

CREATE TABLE service_categories (
    department_id TEXT    NOT NULL REFERENCES departments (department_id),
    category_id   TEXT    NOT NULL,
    display_name  TEXT    NOT NULL,
    description   TEXT    NOT NULL,
    keywords      TEXT    NOT NULL DEFAULT '[]', -- JSON array of strings
    status        TEXT    NOT NULL CHECK (status IN ('active', 'retired')),
    revision      INTEGER NOT NULL,
    create_time   INTEGER NOT NULL,
    update_time   INTEGER NOT NULL,
    PRIMARY KEY (department_id, category_id)
);

CREATE TABLE service_standards (
    department_id TEXT    NOT NULL REFERENCES departments (department_id),
    standard_id   TEXT    NOT NULL,
    category_id   TEXT,             -- NULL: every category
    channel       TEXT,             -- NULL: every channel
    ack_secs      INTEGER NOT NULL CHECK (ack_secs > 0),
    resolve_secs  INTEGER NOT NULL CHECK (resolve_secs >= ack_secs),
    revision      INTEGER NOT NULL,
    create_time   INTEGER NOT NULL,
    update_time   INTEGER NOT NULL,
    PRIMARY KEY (department_id, standard_id),
    FOREIGN KEY (department_id, category_id) REFERENCES service_categories (department_id, category_id)
);

-- One standard per (category, channel) pair; NULLs compare equal here on purpose.
CREATE UNIQUE INDEX service_standards_pair
    ON service_standards (department_id, COALESCE(category_id, ''), COALESCE(channel, ''));

CREATE TABLE idempotency_keys (
    department_id TEXT    NOT NULL,
    request_id    TEXT    NOT NULL,
    operation     TEXT    NOT NULL,
    request_hash  TEXT    NOT NULL,
    resource_id   TEXT    NOT NULL,
    create_time   INTEGER NOT NULL,
    PRIMARY KEY (department_id, request_id)
);

CREATE TABLE audit_log (
    audit_id      INTEGER PRIMARY KEY AUTOINCREMENT,
    department_id TEXT    NOT NULL,
    occurred_at   INTEGER NOT NULL,
    actor_subject TEXT    NOT NULL,
    actor_role    TEXT    NOT NULL,
    action        TEXT    NOT NULL,
    resource      TEXT    NOT NULL,
    trace_id      TEXT
);
CREATE INDEX audit_log_by_department ON audit_log (department_id, audit_id);

-- The audit log is append-only.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TABLE events (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    department_id TEXT    NOT NULL,
    event_type    TEXT    NOT NULL,
    resource      TEXT    NOT NULL,
    payload       TEXT    NOT NULL, -- JSON: ids and changed field names only, never free text
    occurred_at   INTEGER NOT NULL
);
CREATE INDEX events_by_department ON events (department_id, seq);
