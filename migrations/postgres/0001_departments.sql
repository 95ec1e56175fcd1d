-- Departments (tenants), their service catalogue, idempotency keys, the audit log and the outbox,
-- with row-level security on every table. `department_id` leads every primary key so the schema
-- can later be distributed by tenant (Citus).

-- The non-owner role the server acts as. Roles are cluster-wide: create it only if missing, and
-- tolerate a concurrent migration creating it first.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'cityserve_app') THEN
        CREATE ROLE cityserve_app LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

CREATE TABLE departments (
    department_id        text        NOT NULL PRIMARY KEY,
    display_name         text        NOT NULL,
    description          text        NOT NULL,
    status               text        NOT NULL CHECK (status IN ('active', 'archived')),
    default_ack_secs     bigint      NOT NULL CHECK (default_ack_secs > 0),
    default_resolve_secs bigint      NOT NULL CHECK (default_resolve_secs >= default_ack_secs),
    revision             bigint      NOT NULL,
    create_time          timestamptz NOT NULL,
    update_time          timestamptz NOT NULL
);

CREATE TABLE service_categories (
    department_id text        NOT NULL REFERENCES departments (department_id),
    category_id   text        NOT NULL,
    display_name  text        NOT NULL,
    description   text        NOT NULL,
    keywords      jsonb       NOT NULL DEFAULT '[]',
    status        text        NOT NULL CHECK (status IN ('active', 'retired')),
    revision      bigint      NOT NULL,
    create_time   timestamptz NOT NULL,
    update_time   timestamptz NOT NULL,
    PRIMARY KEY (department_id, category_id)
);

CREATE TABLE service_standards (
    department_id text        NOT NULL REFERENCES departments (department_id),
    standard_id   text        NOT NULL,
    category_id   text,        -- NULL: every category
    channel       text,        -- NULL: every channel
    ack_secs      bigint      NOT NULL CHECK (ack_secs > 0),
    resolve_secs  bigint      NOT NULL CHECK (resolve_secs >= ack_secs),
    revision      bigint      NOT NULL,
    create_time   timestamptz NOT NULL,
    update_time   timestamptz NOT NULL,
    PRIMARY KEY (department_id, standard_id),
    FOREIGN KEY (department_id, category_id) REFERENCES service_categories (department_id, category_id)
);

-- One standard per (category, channel) pair; NULLs compare equal here on purpose.
CREATE UNIQUE INDEX service_standards_pair
    ON service_standards (department_id, COALESCE(category_id, ''), COALESCE(channel, ''));

CREATE TABLE idempotency_keys (
    department_id text        NOT NULL,
    request_id    text        NOT NULL,
    operation     text        NOT NULL,
    request_hash  text        NOT NULL,
    resource_id   text        NOT NULL,
    create_time   timestamptz NOT NULL,
    PRIMARY KEY (department_id, request_id)
);

CREATE TABLE audit_log (
    department_id text        NOT NULL,
    audit_id      bigint      GENERATED ALWAYS AS IDENTITY,
    occurred_at   timestamptz NOT NULL,
    actor_subject text        NOT NULL,
    actor_role    text        NOT NULL,
    action        text        NOT NULL,
    resource      text        NOT NULL,
    trace_id      text,
    PRIMARY KEY (department_id, audit_id)
);

CREATE TABLE events (
    department_id text        NOT NULL,
    seq           bigint      GENERATED ALWAYS AS IDENTITY,
    event_type    text        NOT NULL,
    resource      text        NOT NULL,
    payload       jsonb       NOT NULL, -- ids and changed field names only, never free text
    occurred_at   timestamptz NOT NULL,
    PRIMARY KEY (department_id, seq)
);

-- Row-level security: a row is visible when its department is in the transaction's
-- app.tenant_ids, or the transaction acts for a city-wide role. Only the Chief writes city-wide
-- (auditors are read-only). Unset settings are NULL: nothing is visible (fails closed). The
-- sub-selects are evaluated once per statement, not per row.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['departments', 'service_categories', 'service_standards',
                             'idempotency_keys', 'audit_log', 'events'] LOOP
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

GRANT USAGE ON SCHEMA public TO cityserve_app;
GRANT SELECT, INSERT, UPDATE ON departments, service_categories, idempotency_keys TO cityserve_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON service_standards TO cityserve_app;
-- Append-only for the application.
GRANT SELECT, INSERT ON audit_log, events TO cityserve_app;
