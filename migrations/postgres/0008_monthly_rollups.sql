-- Report-card counters per UTC calendar month, next to the daily `rollups` (0004). A card over a
-- long period (a quarter is ~92 days) sums whole months from here and only its partial-month
-- edges from `rollups`, so it reads ~30 times fewer rows. `month` is the UTC day number (days
-- since 1970-01-01, the unit of rollups.day) of the 1st of the month. Every write that adds to a
-- daily counter adds the same value to its month's counter in the same statement (apply_deltas),
-- on the same shard (the writing transaction's id modulo 8), so for every month
-- sum(rollups_monthly) = sum(rollups over that month's days), per department, metric and shard.
CREATE TABLE rollups_monthly (
    department_id text     NOT NULL,
    month         bigint   NOT NULL,
    metric        text     NOT NULL,
    shard         smallint NOT NULL DEFAULT 0 CHECK (shard BETWEEN 0 AND 7),
    value         bigint   NOT NULL,
    PRIMARY KEY (department_id, month, metric, shard)
);

-- Backfill from the daily counters. `rollups` has FORCE ROW LEVEL SECURITY: read it as the Chief
-- (transaction-local), so the copy is complete even when the owner running migrations is not a
-- superuser. The 1st of a day's month: the day minus (its day of month - 1).
SELECT set_config('app.role', 'chief', true);
INSERT INTO rollups_monthly (department_id, month, metric, shard, value)
SELECT department_id, day - (extract(day FROM DATE '1970-01-01' + day::integer)::bigint - 1), metric, shard,
       sum(value)
FROM rollups
GROUP BY 1, 2, 3, 4;

-- Row-level security, grants: as `rollups` in 0004.
ALTER TABLE rollups_monthly ENABLE ROW LEVEL SECURITY;
ALTER TABLE rollups_monthly FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON rollups_monthly
    USING (
        (SELECT current_setting('app.role', true)) IN ('chief', 'auditor')
        OR department_id = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[])
    )
    WITH CHECK (
        (SELECT current_setting('app.role', true)) = 'chief'
        OR department_id = ANY ((SELECT string_to_array(current_setting('app.tenant_ids', true), ','))::text[])
    );
GRANT SELECT, INSERT, UPDATE ON rollups_monthly TO cityserve_app;
