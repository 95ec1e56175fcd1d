-- Silo-coordination: hand-offs, escalations, initiatives, the dumb rules register, report-card
-- rollups and plan focus progress. Timestamps are INTEGER microseconds since the Unix epoch (UTC).

-- The departments a case has been with, oldest first, as a JSON array (NULL: just its own).
ALTER TABLE cases ADD COLUMN path TEXT;

CREATE TABLE handoffs (
    department_id  TEXT    NOT NULL REFERENCES departments (department_id),
    handoff_id     TEXT    NOT NULL,
    case_id        TEXT    NOT NULL,
    to_department  TEXT    NOT NULL REFERENCES departments (department_id),
    kind           TEXT    NOT NULL CHECK (kind IN ('transfer', 'referral')),
    status         TEXT    NOT NULL CHECK (status IN ('pending', 'accepted', 'declined')),
    reason         TEXT    NOT NULL, -- erased with the resident
    decline_reason TEXT    NOT NULL DEFAULT '', -- erased with the resident
    path           TEXT    NOT NULL, -- JSON array of department IDs
    ping_pong      INTEGER NOT NULL CHECK (ping_pong IN (0, 1)),
    accept_due     INTEGER NOT NULL,
    created_by     TEXT    NOT NULL,
    create_time    INTEGER NOT NULL,
    responded_by   TEXT    NOT NULL DEFAULT '',
    respond_time   INTEGER,
    received_case  TEXT,
    resident_key   TEXT,
    revision       INTEGER NOT NULL,
    PRIMARY KEY (department_id, handoff_id),
    FOREIGN KEY (department_id, case_id) REFERENCES cases (department_id, case_id),
    CHECK (to_department <> department_id)
);
-- A case waits on at most one answer at a time.
CREATE UNIQUE INDEX handoffs_one_pending_per_case ON handoffs (department_id, case_id) WHERE status = 'pending';
CREATE INDEX handoffs_incoming ON handoffs (to_department, handoff_id);
CREATE INDEX handoffs_pending_by_due ON handoffs (accept_due) WHERE status = 'pending';

CREATE TABLE escalations (
    department_id      TEXT    NOT NULL REFERENCES departments (department_id),
    escalation_id      TEXT    NOT NULL,
    case_department    TEXT    NOT NULL,
    case_id            TEXT    NOT NULL,
    handoff_department TEXT,
    handoff_id         TEXT,
    trigger            TEXT    NOT NULL
        CHECK (trigger IN ('manual', 'acknowledge_breach', 'resolve_breach', 'handoff_timeout')),
    status             TEXT    NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    reason             TEXT    NOT NULL,
    resolution         TEXT    NOT NULL DEFAULT '',
    created_by         TEXT    NOT NULL,
    create_time        INTEGER NOT NULL,
    acknowledge_time   INTEGER,
    resolve_time       INTEGER,
    dedupe_key         TEXT,
    revision           INTEGER NOT NULL,
    PRIMARY KEY (department_id, escalation_id),
    FOREIGN KEY (case_department, case_id) REFERENCES cases (department_id, case_id)
);
-- An automatic escalation happens once per breach, whoever scans.
CREATE UNIQUE INDEX escalations_once ON escalations (department_id, dedupe_key) WHERE dedupe_key IS NOT NULL;
-- The breach scan reads only overdue candidates.
CREATE INDEX cases_open_by_ack_due ON cases (acknowledge_due) WHERE status = 'open';
CREATE INDEX cases_unresolved_by_due ON cases (resolve_due) WHERE status IN ('open', 'acknowledged', 'in_progress');

CREATE TABLE initiatives (
    department_id TEXT    NOT NULL REFERENCES departments (department_id),
    initiative_id TEXT    NOT NULL,
    title         TEXT    NOT NULL,
    goal          TEXT    NOT NULL,
    owner         TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('proposed', 'active', 'done', 'dropped')),
    milestones    TEXT    NOT NULL, -- JSON
    cases         TEXT    NOT NULL, -- JSON [[department, case], ...]
    dumb_rules    TEXT    NOT NULL, -- JSON [rule, ...]
    create_time   INTEGER NOT NULL,
    update_time   INTEGER NOT NULL,
    revision      INTEGER NOT NULL,
    PRIMARY KEY (department_id, initiative_id)
);

-- Membership, by member department: what makes an initiative visible to it.
CREATE TABLE initiative_members (
    department_id   TEXT NOT NULL REFERENCES departments (department_id),
    lead_department TEXT NOT NULL,
    initiative_id   TEXT NOT NULL,
    PRIMARY KEY (department_id, lead_department, initiative_id),
    FOREIGN KEY (lead_department, initiative_id) REFERENCES initiatives (department_id, initiative_id)
);

-- The dumb rules register is city-wide: rules name no single tenant.
CREATE TABLE dumb_rules (
    rule_id             TEXT    NOT NULL PRIMARY KEY,
    text                TEXT    NOT NULL,
    status              TEXT    NOT NULL CHECK (status IN ('open', 'decided')),
    verdict             TEXT    CHECK (verdict IN ('kill', 'revise', 'keep')),
    rationale           TEXT    NOT NULL DEFAULT '',
    decided_by          TEXT    NOT NULL DEFAULT '',
    decide_time         INTEGER,
    reported_by         TEXT    NOT NULL,
    reporter_department TEXT,
    evidence_count      INTEGER NOT NULL,
    create_time         INTEGER NOT NULL,
    update_time         INTEGER NOT NULL,
    revision            INTEGER NOT NULL,
    CHECK ((status = 'decided') = (verdict IS NOT NULL))
);
CREATE INDEX dumb_rules_by_evidence ON dumb_rules (evidence_count DESC, rule_id DESC);

CREATE TABLE dumb_rule_affected (
    department_id TEXT NOT NULL REFERENCES departments (department_id),
    rule_id       TEXT NOT NULL REFERENCES dumb_rules (rule_id),
    PRIMARY KEY (department_id, rule_id)
);
CREATE INDEX dumb_rule_affected_by_rule ON dumb_rule_affected (rule_id);

CREATE TABLE dumb_rule_evidence (
    department_id TEXT NOT NULL,
    rule_id       TEXT NOT NULL REFERENCES dumb_rules (rule_id),
    feedback_id   TEXT NOT NULL,
    PRIMARY KEY (department_id, rule_id, feedback_id),
    FOREIGN KEY (department_id, feedback_id) REFERENCES feedback (department_id, feedback_id)
);
CREATE INDEX dumb_rule_evidence_by_rule ON dumb_rule_evidence (rule_id);

-- One vote per affected department, cast by its CSO and changeable until the decision.
CREATE TABLE dumb_rule_votes (
    department_id TEXT    NOT NULL,
    rule_id       TEXT    NOT NULL,
    voter         TEXT    NOT NULL,
    verdict       TEXT    NOT NULL CHECK (verdict IN ('kill', 'revise', 'keep')),
    comment       TEXT    NOT NULL,
    update_time   INTEGER NOT NULL,
    PRIMARY KEY (department_id, rule_id),
    FOREIGN KEY (department_id, rule_id) REFERENCES dumb_rule_affected (department_id, rule_id)
);
CREATE INDEX dumb_rule_votes_by_rule ON dumb_rule_votes (rule_id);

-- Report-card counters per department, UTC day and metric, maintained in the transaction of
-- every write that changes them (see cityserve_domain::report).
CREATE TABLE rollups (
    department_id TEXT    NOT NULL,
    day           INTEGER NOT NULL,
    metric        TEXT    NOT NULL,
    value         INTEGER NOT NULL,
    PRIMARY KEY (department_id, day, metric)
) WITHOUT ROWID;

-- Reported values of a plan's focus metric.
CREATE TABLE plan_progress (
    department_id TEXT    NOT NULL,
    year          INTEGER NOT NULL,
    recorded_at   INTEGER NOT NULL,
    value         REAL    NOT NULL,
    recorded_by   TEXT    NOT NULL,
    PRIMARY KEY (department_id, year, recorded_at)
);

-- Backfill the counters of data written before this migration.
INSERT INTO rollups (department_id, day, metric, value)
SELECT department_id, day, metric, SUM(n) FROM (
    SELECT department_id, received_at / 86400000000 AS day, 'fb' AS metric, 1 AS n FROM feedback
    UNION ALL SELECT department_id, received_at / 86400000000, 'fb.ch.' || channel, 1 FROM feedback
    UNION ALL SELECT department_id, received_at / 86400000000, 'fb.kind.' || kind, 1 FROM feedback
    UNION ALL SELECT department_id, received_at / 86400000000, 'csat.' || csat, 1 FROM feedback WHERE csat IS NOT NULL
    UNION ALL SELECT department_id, received_at / 86400000000, 'nps.' || nps, 1 FROM feedback WHERE nps IS NOT NULL
    UNION ALL SELECT department_id, received_at / 86400000000, 'cov', 1 FROM feedback
        WHERE category_id IS NOT NULL AND kind <> 'complaint'
    UNION ALL SELECT department_id, received_at / 86400000000, 'case', 1 FROM cases
    UNION ALL SELECT department_id, acknowledged_at / 86400000000, 'ack.n', 1 FROM cases WHERE acknowledged_at IS NOT NULL
    UNION ALL SELECT department_id, acknowledged_at / 86400000000, 'ack.sla', 1 FROM cases
        WHERE acknowledged_at IS NOT NULL AND acknowledged_at <= acknowledge_due
    UNION ALL SELECT department_id, resolved_at / 86400000000, 'res.n', 1 FROM cases WHERE resolved_at IS NOT NULL
    UNION ALL SELECT department_id, resolved_at / 86400000000, 'res.sla', 1 FROM cases
        WHERE resolved_at IS NOT NULL AND resolved_at <= resolve_due
    UNION ALL SELECT department_id, received_at / 86400000000, 'loop', 1 FROM cases WHERE follow_up IS NOT NULL
)
GROUP BY department_id, day, metric;
