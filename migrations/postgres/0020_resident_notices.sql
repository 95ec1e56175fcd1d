-- Resident notices: how a resident wants to hear about their cases, the texts departments (and
-- the city) send, and each notice queued with a case change, in that change's transaction (an
-- outbox of its own), with its delivery state. A resolution also queues the follow-up survey
-- invitation, whose signed token is spent (answered_at) by the one answer it links.

-- '' (never chosen) and 'none' send nothing; 'email' and 'sms' use the contact details beside it.
ALTER TABLE resident_contact_details ADD COLUMN notice_channel text NOT NULL DEFAULT ''
    CHECK (notice_channel IN ('', 'none', 'email', 'sms'));

-- One text per (department, event, language); department_id '' is the city-wide default.
CREATE TABLE notice_templates (
    department_id text        NOT NULL,
    event         text        NOT NULL CHECK (event IN ('acknowledged', 'waiting', 'resolved', 'transferred', 'survey')),
    language      text        NOT NULL,
    subject       text        NOT NULL,
    body          text        NOT NULL,
    revision      bigint      NOT NULL,
    update_time   timestamptz NOT NULL,
    PRIMARY KEY (department_id, event, language)
);

-- Times in microseconds since the epoch, as leases, so the worker's statements are the same on
-- both databases. No contact details: they are read at sending time, so erasure wins.
CREATE TABLE notices (
    department_id   text    NOT NULL REFERENCES departments (department_id),
    notice_id       text    NOT NULL,
    case_id         text    NOT NULL,
    resident_key    text,
    event           text    NOT NULL CHECK (event IN ('acknowledged', 'waiting', 'resolved', 'transferred', 'survey')),
    channel         text    NOT NULL CHECK (channel IN ('email', 'sms')),
    language        text    NOT NULL,
    state           text    NOT NULL CHECK (state IN ('pending', 'sent', 'dead', 'cancelled')),
    attempts        integer NOT NULL DEFAULT 0,
    last_error      text    NOT NULL DEFAULT '',
    create_at       bigint  NOT NULL,
    next_attempt_at bigint,
    sent_at         bigint,
    answered_at     bigint, -- a survey invitation's answer arrived (its token is spent)
    PRIMARY KEY (department_id, notice_id)
);
-- The worker's scan: pending notices by due time.
CREATE INDEX notices_due ON notices (next_attempt_at) WHERE state = 'pending';
CREATE INDEX notices_by_resident ON notices (resident_key) WHERE state = 'pending';
CREATE INDEX notices_by_case ON notices (department_id, case_id);

-- Notices are tenant data (the tenant_isolation policy of 0001). City-wide templates are read by
-- everyone and written by the Chief; a department's by its own officers.
ALTER TABLE notices ENABLE ROW LEVEL SECURITY;
ALTER TABLE notices FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notices
    USING (
        (SELECT current_setting('app.role', true)) IN ('chief', 'auditor')
        OR department_id = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[])
    )
    WITH CHECK (
        (SELECT current_setting('app.role', true)) = 'chief'
        OR department_id = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[])
    );
ALTER TABLE notice_templates ENABLE ROW LEVEL SECURITY;
ALTER TABLE notice_templates FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON notice_templates
    USING (
        department_id = ''
        OR (SELECT current_setting('app.role', true)) IN ('chief', 'auditor')
        OR department_id = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[])
    )
    WITH CHECK (
        (SELECT current_setting('app.role', true)) = 'chief'
        OR (department_id <> ''
            AND department_id = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[]))
    );
GRANT SELECT, INSERT, UPDATE ON notices TO cityserve_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON notice_templates TO cityserve_app;
