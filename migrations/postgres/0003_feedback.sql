-- Feedback from every channel, residents' contact details (kept apart so they can be erased),
-- complaint cases with their recovery clock, and the city-wide timeline metadata.

CREATE TABLE feedback (
    department_id     text             NOT NULL REFERENCES departments (department_id),
    feedback_id       text             NOT NULL,
    channel           text             NOT NULL,
    kind              text             NOT NULL,
    csat              integer          CHECK (csat BETWEEN 1 AND 5),
    nps               integer          CHECK (nps BETWEEN 0 AND 10),
    text              text             NOT NULL, -- erased with the resident
    language          text             NOT NULL,
    category_id       text,
    address           text             NOT NULL, -- erased with the resident
    latitude          double precision,          -- erased with the resident
    longitude         double precision,          -- erased with the resident
    occurred_at       timestamptz      NOT NULL,
    received_at       timestamptz      NOT NULL,
    resident_key      text,                      -- dropped on erasure
    internal_customer text,
    erased            boolean          NOT NULL DEFAULT false,
    PRIMARY KEY (department_id, feedback_id),
    FOREIGN KEY (department_id, category_id) REFERENCES service_categories (department_id, category_id),
    CHECK (internal_customer IS NULL OR internal_customer <> department_id)
);
CREATE INDEX feedback_by_resident ON feedback (resident_key) WHERE resident_key IS NOT NULL;

-- Personal data: one row per resident and department, deleted on erasure.
CREATE TABLE resident_contact_details (
    department_id text        NOT NULL REFERENCES departments (department_id),
    resident_key  text        NOT NULL,
    email         text        NOT NULL,
    phone         text        NOT NULL,
    update_time   timestamptz NOT NULL,
    PRIMARY KEY (department_id, resident_key)
);
CREATE INDEX resident_contact_details_by_key ON resident_contact_details (resident_key);

-- The city-wide identity index: keyed hashes of a resident's e-mail and phone (no contact
-- details) -> their key, so a resident known by phone keeps one key when they later write with
-- an e-mail. Not tenant data: it names no department (policies below).
CREATE TABLE resident_identifiers (
    identifier   text        NOT NULL PRIMARY KEY,
    resident_key text        NOT NULL,
    create_time  timestamptz NOT NULL
);
CREATE INDEX resident_identifiers_by_key ON resident_identifiers (resident_key);

CREATE TABLE cases (
    department_id    text        NOT NULL,
    case_id          text        NOT NULL,
    status           text        NOT NULL
        CHECK (status IN ('open', 'acknowledged', 'in_progress', 'resolved', 'closed')),
    assignee         text,
    category_id      text,
    channel          text        NOT NULL,
    received_at      timestamptz NOT NULL,
    acknowledge_due  timestamptz NOT NULL,
    resolve_due      timestamptz NOT NULL,
    acknowledged_at  timestamptz,
    resolved_at      timestamptz,
    closed_at        timestamptz,
    owner_department text,
    reopen_count     integer     NOT NULL DEFAULT 0,
    follow_up        text,
    satisfied        boolean,
    resident_key     text,
    revision         bigint      NOT NULL,
    update_time      timestamptz NOT NULL,
    PRIMARY KEY (department_id, case_id),
    FOREIGN KEY (department_id, case_id) REFERENCES feedback (department_id, feedback_id),
    -- "No wrong door": a case closed as not ours names the department that owns it.
    CHECK (owner_department IS NULL OR (status = 'closed' AND owner_department <> department_id))
);
CREATE INDEX cases_by_due ON cases (department_id, resolve_due, case_id);

-- Notes and recovery actions, oldest first.
CREATE TABLE case_entries (
    department_id text        NOT NULL,
    case_id       text        NOT NULL,
    entry_no      integer     NOT NULL,
    kind          text        NOT NULL CHECK (kind IN ('note', 'apology', 'remedy', 'follow_up_call')),
    text          text        NOT NULL, -- erased with the resident
    actor         text        NOT NULL,
    at            timestamptz NOT NULL,
    PRIMARY KEY (department_id, case_id, entry_no),
    FOREIGN KEY (department_id, case_id) REFERENCES cases (department_id, case_id)
);

-- What any department may see of a resident's contact with another: no text, no contact details.
CREATE TABLE timeline_entries (
    department_id text        NOT NULL,
    feedback_id   text        NOT NULL,
    resident_key  text        NOT NULL,
    channel       text        NOT NULL,
    occurred_at   timestamptz NOT NULL,
    case_status   text,
    PRIMARY KEY (department_id, feedback_id),
    FOREIGN KEY (department_id, feedback_id) REFERENCES feedback (department_id, feedback_id)
);
CREATE INDEX timeline_entries_by_resident ON timeline_entries (resident_key, occurred_at);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['feedback', 'resident_contact_details', 'cases', 'case_entries',
                             'timeline_entries'] LOOP
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

-- The identity index fails closed without a role; any officer or service may look up and add
-- entries; only the Chief (erasure) deletes them.
ALTER TABLE resident_identifiers ENABLE ROW LEVEL SECURITY;
ALTER TABLE resident_identifiers FORCE ROW LEVEL SECURITY;
CREATE POLICY identity_lookup ON resident_identifiers FOR SELECT
    USING ((SELECT current_setting('app.role', true)) IN ('chief', 'auditor', 'cso', 'staff', 'service'));
CREATE POLICY identity_record ON resident_identifiers FOR INSERT
    WITH CHECK ((SELECT current_setting('app.role', true)) IN ('chief', 'cso', 'staff', 'service'));
CREATE POLICY identity_erase ON resident_identifiers FOR DELETE
    USING ((SELECT current_setting('app.role', true)) = 'chief');
GRANT SELECT, INSERT, DELETE ON resident_identifiers TO cityserve_app;

-- The timeline's metadata is shared on purpose: a department-bound caller reads every
-- department's entries (department, channel, time, status; never text or contact details) so
-- nobody asks a resident to repeat themselves. Permissive policies combine with OR.
CREATE POLICY timeline_metadata_shared ON timeline_entries FOR SELECT
    USING ((SELECT current_setting('app.role', true)) IN ('cso', 'staff', 'service'));

-- A timeline read is audited in every department it disclosed, also by department-bound callers.
CREATE POLICY timeline_read_audited ON audit_log FOR INSERT
    WITH CHECK (
        action = 'timeline.read'
        AND (SELECT current_setting('app.role', true)) IN ('cso', 'staff', 'service')
    );

-- "No wrong door": a department closing a complaint as another's must name a real, active
-- department, which its own row-level security does not let it see. This answers only that
-- yes/no, as the owner, and nothing else about the department.
CREATE FUNCTION department_is_active(id text) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = public AS $$
    SELECT EXISTS (SELECT 1 FROM departments WHERE department_id = id AND status = 'active')
$$;
REVOKE ALL ON FUNCTION department_is_active(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION department_is_active(text) TO cityserve_app;

GRANT SELECT, INSERT, UPDATE ON feedback, cases, case_entries TO cityserve_app;
-- Personal data and timeline metadata are deleted on erasure.
GRANT SELECT, INSERT, UPDATE, DELETE ON resident_contact_details, timeline_entries TO cityserve_app;
