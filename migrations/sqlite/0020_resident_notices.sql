-- Resident notices: how a resident wants to hear about their cases, the texts departments (and
-- the city) send, and each notice queued with a case change, in that change's transaction (an
-- outbox of its own), with its delivery state. A resolution also queues the follow-up survey
-- invitation, whose signed token is spent (answered_at) by the one answer it links.

-- '' (never chosen) and 'none' send nothing; 'email' and 'sms' use the contact details beside it.
ALTER TABLE resident_contact_details ADD COLUMN notice_channel TEXT NOT NULL DEFAULT ''
    CHECK (notice_channel IN ('', 'none', 'email', 'sms'));

-- One text per (department, event, language); department_id '' is the city-wide default.
CREATE TABLE notice_templates (
    department_id TEXT    NOT NULL,
    event         TEXT    NOT NULL CHECK (event IN ('acknowledged', 'waiting', 'resolved', 'transferred', 'survey')),
    language      TEXT    NOT NULL,
    subject       TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    revision      INTEGER NOT NULL,
    update_time   INTEGER NOT NULL,
    PRIMARY KEY (department_id, event, language)
);

-- Times in microseconds since the epoch, as leases, so the worker's statements are the same on
-- both databases. No contact details: they are read at sending time, so erasure wins.
CREATE TABLE notices (
    department_id   TEXT    NOT NULL REFERENCES departments (department_id),
    notice_id       TEXT    NOT NULL,
    case_id         TEXT    NOT NULL,
    resident_key    TEXT,
    event           TEXT    NOT NULL CHECK (event IN ('acknowledged', 'waiting', 'resolved', 'transferred', 'survey')),
    channel         TEXT    NOT NULL CHECK (channel IN ('email', 'sms')),
    language        TEXT    NOT NULL,
    state           TEXT    NOT NULL CHECK (state IN ('pending', 'sent', 'dead', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    create_at       INTEGER NOT NULL,
    next_attempt_at INTEGER,
    sent_at         INTEGER,
    answered_at     INTEGER, -- a survey invitation's answer arrived (its token is spent)
    PRIMARY KEY (department_id, notice_id)
);
-- The worker's scan: pending notices by due time.
CREATE INDEX notices_due ON notices (next_attempt_at) WHERE state = 'pending';
CREATE INDEX notices_by_resident ON notices (resident_key) WHERE state = 'pending';
CREATE INDEX notices_by_case ON notices (department_id, case_id);
