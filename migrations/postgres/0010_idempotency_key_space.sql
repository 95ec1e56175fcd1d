-- Idempotency keys belong to the caller that used them: its calling tenant (the departments it
-- belongs to) and subject, as `tenants/subject` (crates/store/src/lib.rs, key_space). Before, keys
-- were per target department only, so a caller writing into another department (internal-customer
-- feedback, a recognition) shared that department's key space and could replay its responses.
-- Keys stored before this migration keep an empty key space: a retry that crosses the upgrade is
-- treated as a new request (keys are only for retries, which come within seconds).
-- Row-level security (ENABLE + FORCE, policy tenant_isolation) stays as set by 0001.
ALTER TABLE idempotency_keys ADD COLUMN caller text NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (department_id, caller, request_id);
