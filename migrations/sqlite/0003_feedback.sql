-- Feedback from every channel, residents' contact details (kept apart so they can be erased),
-- complaint cases with their recovery clock, and the city-wide timeline metadata.
-- Timestamps are INTEGER microseconds since the Unix epoch (UTC).

CREATE TABLE feedback (
    department_id     TEXT    NOT NULL REFERENCES departments (department_id),
    feedback_id       TEXT    NOT NULL,
    channel           TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    csat              INTEGER CHECK (csat BETWEEN 1 AND 5),
    nps               INTEGER CHECK (nps BETWEEN 0 AND 10),
    text              TEXT    NOT NULL, -- erased with the resident
    language          TEXT    NOT NULL,
    category_id       TEXT,
    address           TEXT    NOT NULL, -- erased with the resident
    latitude          REAL,             -- erased with the resident
    longitude         REAL,             -- erased with the resident
    occurred_at       INTEGER NOT NULL,
    received_at       INTEGER NOT NULL,
    resident_key      TEXT,             -- dropped on erasure
    internal_customer TEXT,
    erased            INTEGER NOT NULL DEFAULT 0 CHECK (erased IN (0, 1)),
    PRIMARY KEY (department_id, feedback_id),
    FOREIGN KEY (department_id, category_id) REFERENCES service_categories (department_id, category_id),
    CHECK (internal_customer IS NULL OR internal_customer <> department_id)
);
CREATE INDEX feedback_by_resident ON feedback (resident_key) WHERE resident_key IS NOT NULL;

-- Personal data: one row per resident and department, deleted on erasure.
CREATE TABLE resident_contact_details (
    department_id TEXT    NOT NULL REFERENCES departments (department_id),
    resident_key  TEXT    NOT NULL,
    email         TEXT    NOT NULL,
    phone         TEXT    NOT NULL,
    update_time   INTEGER NOT NULL,
    PRIMARY KEY (department_id, resident_key)
);
CREATE INDEX resident_contact_details_by_key ON resident_contact_details (resident_key);

-- The city-wide identity index: keyed hashes of a resident's e-mail and phone (no contact
-- details) -> their key, so a resident known by phone keeps one key when they later write with
-- an e-mail. Not tenant data: it names no department. Entries are deleted on erasure.
CREATE TABLE resident_identifiers (
    identifier   TEXT    NOT NULL PRIMARY KEY,
    resident_key TEXT    NOT NULL,
    create_time  INTEGER NOT NULL
);
CREATE INDEX resident_identifiers_by_key ON resident_identifiers (resident_key);

CREATE TABLE cases (
    department_id    TEXT    NOT NULL,
    case_id          TEXT    NOT NULL,
    status           TEXT    NOT NULL
        CHECK (status IN ('open', 'acknowledged', 'in_progress', 'resolved', 'closed')),
    assignee         TEXT,
    category_id      TEXT,
    channel          TEXT    NOT NULL,
    received_at      INTEGER NOT NULL,
    acknowledge_due  INTEGER NOT NULL,
    resolve_due      INTEGER NOT NULL,
    acknowledged_at  INTEGER,
    resolved_at      INTEGER,
    closed_at        INTEGER,
    owner_department TEXT,
    reopen_count     INTEGER NOT NULL DEFAULT 0,
    follow_up        TEXT,
    satisfied        INTEGER CHECK (satisfied IN (0, 1)),
    resident_key     TEXT,
    revision         INTEGER NOT NULL,
    update_time      INTEGER NOT NULL,
    PRIMARY KEY (department_id, case_id),
    FOREIGN KEY (department_id, case_id) REFERENCES feedback (department_id, feedback_id),
    -- "No wrong door": a case closed as not ours names the department that owns it.
    CHECK (owner_department IS NULL OR (status = 'closed' AND owner_department <> department_id))
);
CREATE INDEX cases_by_due ON cases (department_id, resolve_due, case_id);

-- Notes and recovery actions, oldest first.
CREATE TABLE case_entries (
    department_id TEXT    NOT NULL,
    case_id       TEXT    NOT NULL,
    entry_no      INTEGER NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('note', 'apology', 'remedy', 'follow_up_call')),
    text          TEXT    NOT NULL, -- erased with the resident
    actor         TEXT    NOT NULL,
    at            INTEGER NOT NULL,
    PRIMARY KEY (department_id, case_id, entry_no),
    FOREIGN KEY (department_id, case_id) REFERENCES cases (department_id, case_id)
);

-- What any department may see of a resident's contact with another: no text, no contact details.
CREATE TABLE timeline_entries (
    department_id TEXT    NOT NULL,
    feedback_id   TEXT    NOT NULL,
    resident_key  TEXT    NOT NULL,
    channel       TEXT    NOT NULL,
    occurred_at   INTEGER NOT NULL,
    case_status   TEXT,
    PRIMARY KEY (department_id, feedback_id),
    FOREIGN KEY (department_id, feedback_id) REFERENCES feedback (department_id, feedback_id)
);
CREATE INDEX timeline_entries_by_resident ON timeline_entries (resident_key, occurred_at);
