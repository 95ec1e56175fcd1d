-- The CSO network: officers, seat appointments with history, competencies, training records,
-- recognitions ("service heroes") and yearly customer-service plans with every revision.
-- Every tenant-scoped table has department_id leading its key; row-level security admits a row
-- when its department is in the transaction's app.tenant_ids or the role is city-wide.

CREATE TABLE officers (
    department_id text        NOT NULL REFERENCES departments (department_id),
    officer_id    text        NOT NULL,
    display_name  text        NOT NULL,
    email         text        NOT NULL,
    title         text        NOT NULL,
    kind          text        NOT NULL CHECK (kind IN ('staff', 'auditor')),
    status        text        NOT NULL CHECK (status IN ('active', 'inactive')),
    revision      bigint      NOT NULL,
    create_time   timestamptz NOT NULL,
    update_time   timestamptz NOT NULL,
    PRIMARY KEY (department_id, officer_id)
);
-- Officer IDs are token subjects: unique city-wide.
CREATE UNIQUE INDEX officers_by_id ON officers (officer_id);

CREATE TABLE appointments (
    department_id  text        NOT NULL,
    appointment_id text        NOT NULL,
    seat           text        NOT NULL CHECK (seat IN ('chief', 'cso')),
    officer_id     text        NOT NULL,
    start_time     timestamptz NOT NULL,
    end_time       timestamptz,
    appointed_by   text        NOT NULL,
    ended_by       text,
    end_reason     text        NOT NULL DEFAULT '',
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

CREATE TABLE competencies (
    department_id text        NOT NULL REFERENCES departments (department_id),
    competency_id text        NOT NULL,
    display_name  text        NOT NULL,
    description   text        NOT NULL,
    required_for  text        NOT NULL, -- comma-separated roles, sorted
    revision      bigint      NOT NULL,
    create_time   timestamptz NOT NULL,
    update_time   timestamptz NOT NULL,
    PRIMARY KEY (department_id, competency_id)
);

CREATE TABLE training_records (
    department_id text        NOT NULL,
    record_id     text        NOT NULL,
    officer_id    text        NOT NULL,
    competency_id text        NOT NULL,
    complete_time timestamptz NOT NULL,
    expire_time   timestamptz,
    notes         text        NOT NULL,
    recorded_by   text        NOT NULL,
    create_time   timestamptz NOT NULL,
    PRIMARY KEY (department_id, record_id),
    FOREIGN KEY (department_id, officer_id) REFERENCES officers (department_id, officer_id),
    FOREIGN KEY (department_id, competency_id) REFERENCES competencies (department_id, competency_id),
    CHECK (expire_time IS NULL OR expire_time > complete_time)
);
CREATE INDEX training_records_by_officer ON training_records (department_id, officer_id, record_id);

CREATE TABLE recognitions (
    department_id  text        NOT NULL,
    recognition_id text        NOT NULL,
    officer_id     text        NOT NULL,
    recognized_by  text        NOT NULL,
    story          text        NOT NULL,
    feedback       text,
    create_time    timestamptz NOT NULL,
    PRIMARY KEY (department_id, recognition_id),
    FOREIGN KEY (department_id, officer_id) REFERENCES officers (department_id, officer_id)
);
CREATE INDEX recognitions_by_officer ON recognitions (department_id, officer_id);
CREATE INDEX recognitions_newest ON recognitions (recognition_id);

CREATE TABLE plans (
    department_id  text        NOT NULL REFERENCES departments (department_id),
    year           integer     NOT NULL,
    content        jsonb       NOT NULL,
    status         text        NOT NULL CHECK (status IN ('draft', 'submitted', 'changes_requested', 'approved')),
    review_comment text        NOT NULL,
    revision       bigint      NOT NULL,
    create_time    timestamptz NOT NULL,
    update_time    timestamptz NOT NULL,
    PRIMARY KEY (department_id, year)
);

CREATE TABLE plan_revisions (
    department_id text        NOT NULL,
    year          integer     NOT NULL,
    revision      bigint      NOT NULL,
    change        text        NOT NULL,
    content       jsonb       NOT NULL,
    status        text        NOT NULL,
    comment       text        NOT NULL,
    author        text        NOT NULL,
    create_time   timestamptz NOT NULL,
    PRIMARY KEY (department_id, year, revision),
    FOREIGN KEY (department_id, year) REFERENCES plans (department_id, year)
);

-- An ended appointment is history: it never changes again (also not by the owner).
CREATE FUNCTION appointments_ended_stay_ended() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.end_time IS NOT NULL THEN
        RAISE EXCEPTION 'an ended appointment cannot change' USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER appointments_ended_stay_ended BEFORE UPDATE ON appointments
    FOR EACH ROW EXECUTE FUNCTION appointments_ended_stay_ended();

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['officers', 'appointments', 'competencies', 'training_records',
                             'recognitions', 'plans', 'plan_revisions'] LOOP
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

GRANT SELECT, INSERT, UPDATE ON officers, appointments, competencies, plans TO cityserve_app;
-- History and records are append-only for the application: no UPDATE, no DELETE.
GRANT SELECT, INSERT ON training_records, recognitions, plan_revisions TO cityserve_app;
