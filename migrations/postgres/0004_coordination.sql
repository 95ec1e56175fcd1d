-- Silo-coordination: hand-offs, escalations, initiatives, the dumb rules register, report-card
-- rollups, plan focus progress, and commit-ordered delivery of the outbox (events.txid + NOTIFY).

-- The departments a case has been with, oldest first (NULL: just its own).
ALTER TABLE cases ADD COLUMN path text[];

CREATE TABLE handoffs (
    department_id  text        NOT NULL REFERENCES departments (department_id),
    handoff_id     text        NOT NULL,
    case_id        text        NOT NULL,
    to_department  text        NOT NULL REFERENCES departments (department_id),
    kind           text        NOT NULL CHECK (kind IN ('transfer', 'referral')),
    status         text        NOT NULL CHECK (status IN ('pending', 'accepted', 'declined')),
    reason         text        NOT NULL,            -- erased with the resident
    decline_reason text        NOT NULL DEFAULT '', -- erased with the resident
    path           text[]      NOT NULL,
    ping_pong      boolean     NOT NULL,
    accept_due     timestamptz NOT NULL,
    created_by     text        NOT NULL,
    create_time    timestamptz NOT NULL,
    responded_by   text        NOT NULL DEFAULT '',
    respond_time   timestamptz,
    received_case  text,
    resident_key   text,
    revision       bigint      NOT NULL,
    PRIMARY KEY (department_id, handoff_id),
    FOREIGN KEY (department_id, case_id) REFERENCES cases (department_id, case_id),
    CHECK (to_department <> department_id)
);
-- A case waits on at most one answer at a time.
CREATE UNIQUE INDEX handoffs_one_pending_per_case ON handoffs (department_id, case_id) WHERE status = 'pending';
CREATE INDEX handoffs_incoming ON handoffs (to_department, handoff_id);
CREATE INDEX handoffs_pending_by_due ON handoffs (accept_due) WHERE status = 'pending';

CREATE TABLE escalations (
    department_id      text        NOT NULL REFERENCES departments (department_id),
    escalation_id      text        NOT NULL,
    case_department    text        NOT NULL,
    case_id            text        NOT NULL,
    handoff_department text,
    handoff_id         text,
    trigger            text        NOT NULL
        CHECK (trigger IN ('manual', 'acknowledge_breach', 'resolve_breach', 'handoff_timeout')),
    status             text        NOT NULL CHECK (status IN ('open', 'acknowledged', 'resolved')),
    reason             text        NOT NULL,
    resolution         text        NOT NULL DEFAULT '',
    created_by         text        NOT NULL,
    create_time        timestamptz NOT NULL,
    acknowledge_time   timestamptz,
    resolve_time       timestamptz,
    dedupe_key         text,
    revision           bigint      NOT NULL,
    PRIMARY KEY (department_id, escalation_id),
    FOREIGN KEY (case_department, case_id) REFERENCES cases (department_id, case_id)
);
-- An automatic escalation happens once per breach, whoever scans.
CREATE UNIQUE INDEX escalations_once ON escalations (department_id, dedupe_key) WHERE dedupe_key IS NOT NULL;
-- The breach scan reads only overdue candidates.
CREATE INDEX cases_open_by_ack_due ON cases (acknowledge_due) WHERE status = 'open';
CREATE INDEX cases_unresolved_by_due ON cases (resolve_due) WHERE status IN ('open', 'acknowledged', 'in_progress');

CREATE TABLE initiatives (
    department_id text        NOT NULL REFERENCES departments (department_id),
    initiative_id text        NOT NULL,
    title         text        NOT NULL,
    goal          text        NOT NULL,
    owner         text        NOT NULL,
    status        text        NOT NULL CHECK (status IN ('proposed', 'active', 'done', 'dropped')),
    -- The member departments, sorted (a copy of initiative_members: every member reads the whole
    -- list, which row-level security on initiative_members would not show it).
    members       text[]      NOT NULL,
    milestones    jsonb       NOT NULL,
    cases         jsonb       NOT NULL, -- [[department, case], ...]
    dumb_rules    jsonb       NOT NULL, -- [rule, ...]
    create_time   timestamptz NOT NULL,
    update_time   timestamptz NOT NULL,
    revision      bigint      NOT NULL,
    PRIMARY KEY (department_id, initiative_id)
);

-- Membership, by member department: what makes an initiative visible to it.
CREATE TABLE initiative_members (
    department_id   text NOT NULL REFERENCES departments (department_id),
    lead_department text NOT NULL,
    initiative_id   text NOT NULL,
    PRIMARY KEY (department_id, lead_department, initiative_id),
    FOREIGN KEY (lead_department, initiative_id) REFERENCES initiatives (department_id, initiative_id)
);
CREATE INDEX initiative_members_by_initiative ON initiative_members (lead_department, initiative_id);

-- The dumb rules register is city-wide: rules name no single tenant.
CREATE TABLE dumb_rules (
    rule_id             text        NOT NULL PRIMARY KEY,
    text                text        NOT NULL,
    status              text        NOT NULL CHECK (status IN ('open', 'decided')),
    verdict             text        CHECK (verdict IN ('kill', 'revise', 'keep')),
    rationale           text        NOT NULL DEFAULT '',
    decided_by          text        NOT NULL DEFAULT '',
    decide_time         timestamptz,
    reported_by         text        NOT NULL,
    reporter_department text,
    evidence_count      bigint      NOT NULL,
    create_time         timestamptz NOT NULL,
    update_time         timestamptz NOT NULL,
    revision            bigint      NOT NULL,
    CHECK ((status = 'decided') = (verdict IS NOT NULL))
);
CREATE INDEX dumb_rules_by_evidence ON dumb_rules (evidence_count DESC, rule_id DESC);

CREATE TABLE dumb_rule_affected (
    department_id text NOT NULL REFERENCES departments (department_id),
    rule_id       text NOT NULL REFERENCES dumb_rules (rule_id),
    PRIMARY KEY (department_id, rule_id)
);
CREATE INDEX dumb_rule_affected_by_rule ON dumb_rule_affected (rule_id);

CREATE TABLE dumb_rule_evidence (
    department_id text NOT NULL,
    rule_id       text NOT NULL REFERENCES dumb_rules (rule_id),
    feedback_id   text NOT NULL,
    PRIMARY KEY (department_id, rule_id, feedback_id),
    FOREIGN KEY (department_id, feedback_id) REFERENCES feedback (department_id, feedback_id)
);
CREATE INDEX dumb_rule_evidence_by_rule ON dumb_rule_evidence (rule_id);

-- One vote per affected department, cast by its CSO and changeable until the decision.
CREATE TABLE dumb_rule_votes (
    department_id text        NOT NULL,
    rule_id       text        NOT NULL,
    voter         text        NOT NULL,
    verdict       text        NOT NULL CHECK (verdict IN ('kill', 'revise', 'keep')),
    comment       text        NOT NULL,
    update_time   timestamptz NOT NULL,
    PRIMARY KEY (department_id, rule_id),
    FOREIGN KEY (department_id, rule_id) REFERENCES dumb_rule_affected (department_id, rule_id)
);
CREATE INDEX dumb_rule_votes_by_rule ON dumb_rule_votes (rule_id);

-- Report-card counters per department, UTC day (floor(unix seconds / 86400)) and metric,
-- maintained in the transaction of every write that changes them (see cityserve_domain::report).
-- Each counter is split over 8 shards: a write transaction adds to one shard (chosen from its
-- transaction id), so concurrent writers to a hot counter do not queue on one row; reads sum.
CREATE TABLE rollups (
    department_id text     NOT NULL,
    day           bigint   NOT NULL,
    metric        text     NOT NULL,
    shard         smallint NOT NULL DEFAULT 0 CHECK (shard BETWEEN 0 AND 7),
    value         bigint   NOT NULL,
    PRIMARY KEY (department_id, day, metric, shard)
);

-- Reported values of a plan's focus metric.
CREATE TABLE plan_progress (
    department_id text             NOT NULL,
    year          integer          NOT NULL,
    recorded_at   timestamptz      NOT NULL,
    value         double precision NOT NULL,
    recorded_by   text             NOT NULL,
    PRIMARY KEY (department_id, year, recorded_at)
);

-- Backfill the counters of data written before this migration (shard 0).
INSERT INTO rollups (department_id, day, metric, shard, value)
SELECT department_id, day, metric, 0, count(*) FROM (
    SELECT department_id, floor(extract(epoch FROM received_at) / 86400)::bigint AS day, 'fb' AS metric FROM feedback
    UNION ALL SELECT department_id, floor(extract(epoch FROM received_at) / 86400)::bigint, 'fb.ch.' || channel
        FROM feedback
    UNION ALL SELECT department_id, floor(extract(epoch FROM received_at) / 86400)::bigint, 'fb.kind.' || kind
        FROM feedback
    UNION ALL SELECT department_id, floor(extract(epoch FROM received_at) / 86400)::bigint, 'csat.' || csat
        FROM feedback WHERE csat IS NOT NULL
    UNION ALL SELECT department_id, floor(extract(epoch FROM received_at) / 86400)::bigint, 'nps.' || nps
        FROM feedback WHERE nps IS NOT NULL
    UNION ALL SELECT department_id, floor(extract(epoch FROM received_at) / 86400)::bigint, 'cov'
        FROM feedback WHERE category_id IS NOT NULL AND kind <> 'complaint'
    UNION ALL SELECT department_id, floor(extract(epoch FROM received_at) / 86400)::bigint, 'case' FROM cases
    UNION ALL SELECT department_id, floor(extract(epoch FROM acknowledged_at) / 86400)::bigint, 'ack.n'
        FROM cases WHERE acknowledged_at IS NOT NULL
    UNION ALL SELECT department_id, floor(extract(epoch FROM acknowledged_at) / 86400)::bigint, 'ack.sla'
        FROM cases WHERE acknowledged_at IS NOT NULL AND acknowledged_at <= acknowledge_due
    UNION ALL SELECT department_id, floor(extract(epoch FROM resolved_at) / 86400)::bigint, 'res.n'
        FROM cases WHERE resolved_at IS NOT NULL
    UNION ALL SELECT department_id, floor(extract(epoch FROM resolved_at) / 86400)::bigint, 'res.sla'
        FROM cases WHERE resolved_at IS NOT NULL AND resolved_at <= resolve_due
    UNION ALL SELECT department_id, floor(extract(epoch FROM received_at) / 86400)::bigint, 'loop'
        FROM cases WHERE follow_up IS NOT NULL
) AS counted
GROUP BY department_id, day, metric;

-- Outbox delivery in commit order. Identity values are drawn before commit, so a reader of
-- `seq > last` could pass over an event that commits later with a lower seq. Readers instead
-- deliver in (txid, seq) order and only events whose transaction is below the snapshot's xmin
-- (every such transaction has ended, so that prefix never changes).
ALTER TABLE events ADD COLUMN txid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX events_by_txid ON events (txid, seq);
CREATE INDEX events_by_seq ON events (seq);

-- Wakes Watch subscribers on every replica (one notification per transaction: identical
-- notifications of a transaction are folded into one).
CREATE FUNCTION events_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('cityserve_events', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER events_notify AFTER INSERT ON events FOR EACH STATEMENT EXECUTE FUNCTION events_notify();

-- Row-level security. Tenant tables: as in 0001-0003.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['escalations', 'rollups', 'plan_progress', 'handoffs', 'initiatives',
                             'initiative_members', 'dumb_rules', 'dumb_rule_affected', 'dumb_rule_evidence',
                             'dumb_rule_votes'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
    END LOOP;
    FOREACH t IN ARRAY ARRAY['escalations', 'rollups', 'plan_progress'] LOOP
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

-- A hand-off belongs to both departments it joins.
CREATE POLICY handoff_parties ON handoffs
    USING (
        (SELECT current_setting('app.role', true)) IN ('chief', 'auditor')
        OR department_id = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[])
        OR to_department = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[])
    )
    WITH CHECK (
        (SELECT current_setting('app.role', true)) = 'chief'
        OR department_id = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[])
        OR to_department = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[])
    );

-- An initiative is visible to its lead and to every member department; only the lead (or the
-- Chief) writes it.
CREATE POLICY initiative_members_see ON initiatives
    USING (
        (SELECT current_setting('app.role', true)) IN ('chief', 'auditor')
        OR department_id = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[])
        OR EXISTS (
            SELECT 1 FROM initiative_members m
            WHERE m.lead_department = initiatives.department_id AND m.initiative_id = initiatives.initiative_id
              AND m.department_id = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[])
        )
    )
    WITH CHECK (
        (SELECT current_setting('app.role', true)) = 'chief'
        OR department_id = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[])
    );
-- A membership row is the member's and the lead's (the lead rewrites the list).
CREATE POLICY membership_parties ON initiative_members
    USING (
        (SELECT current_setting('app.role', true)) IN ('chief', 'auditor')
        OR department_id = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[])
        OR lead_department = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[])
    )
    WITH CHECK (
        (SELECT current_setting('app.role', true)) = 'chief'
        OR lead_department = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[])
    );

-- The register is city-wide: every officer reads it; officers report rules; the CSOs' votes and
-- the Chief's decision update a rule. Evidence is the reporter's own feedback; a vote is its
-- department's.
CREATE POLICY register_read ON dumb_rules FOR SELECT
    USING ((SELECT current_setting('app.role', true)) IN ('chief', 'auditor', 'cso', 'staff'));
CREATE POLICY register_report ON dumb_rules FOR INSERT
    WITH CHECK ((SELECT current_setting('app.role', true)) IN ('chief', 'cso', 'staff'));
CREATE POLICY register_update ON dumb_rules FOR UPDATE
    USING ((SELECT current_setting('app.role', true)) IN ('chief', 'cso'))
    WITH CHECK ((SELECT current_setting('app.role', true)) IN ('chief', 'cso'));
CREATE POLICY register_read ON dumb_rule_affected FOR SELECT
    USING ((SELECT current_setting('app.role', true)) IN ('chief', 'auditor', 'cso', 'staff'));
CREATE POLICY register_report ON dumb_rule_affected FOR INSERT
    WITH CHECK ((SELECT current_setting('app.role', true)) IN ('chief', 'cso', 'staff'));
CREATE POLICY register_read ON dumb_rule_evidence FOR SELECT
    USING ((SELECT current_setting('app.role', true)) IN ('chief', 'auditor', 'cso', 'staff'));
CREATE POLICY register_report ON dumb_rule_evidence FOR INSERT
    WITH CHECK (
        (SELECT current_setting('app.role', true)) = 'chief'
        OR ((SELECT current_setting('app.role', true)) IN ('cso', 'staff')
            AND department_id = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[]))
    );
CREATE POLICY register_read ON dumb_rule_votes FOR SELECT
    USING ((SELECT current_setting('app.role', true)) IN ('chief', 'auditor', 'cso', 'staff'));
CREATE POLICY own_vote_cast ON dumb_rule_votes FOR INSERT
    WITH CHECK (department_id = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[]));
CREATE POLICY own_vote_change ON dumb_rule_votes FOR UPDATE
    USING (department_id = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[]))
    WITH CHECK (department_id = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[]));

-- Coordination writes tell the other departments involved: a rule reported for the register is
-- announced to every affected department, and a lead's initiative to every member. Audit rows
-- and events for exactly those resources may name a department outside the caller's tenants.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['audit_log', 'events'] LOOP
        EXECUTE format($p$
            CREATE POLICY coordination_fanout ON %I FOR INSERT
            WITH CHECK (
                (SELECT current_setting('app.role', true)) IN ('cso', 'staff')
                AND (
                    resource LIKE 'dumbRules/%%'
                    OR (resource LIKE 'departments/%%/initiatives/%%'
                        AND split_part(resource, '/', 2)
                            = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[]))
                )
            )$p$, t);
    END LOOP;
END
$$;

-- Whether a department exists and its status ('active'/'archived'; NULL: no such department),
-- as the owner: coordination names departments the caller's row-level security hides.
CREATE FUNCTION department_status(id text) RETURNS text
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT status FROM departments WHERE department_id = id
$$;
REVOKE ALL ON FUNCTION department_status(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION department_status(text) TO cityserve_app;

GRANT SELECT, INSERT, UPDATE ON handoffs, escalations, initiatives, dumb_rules, dumb_rule_votes, rollups,
    plan_progress TO cityserve_app;
-- The member list is rewritten on every change.
GRANT SELECT, INSERT, DELETE ON initiative_members TO cityserve_app;
GRANT SELECT, INSERT ON dumb_rule_affected, dumb_rule_evidence TO cityserve_app;
