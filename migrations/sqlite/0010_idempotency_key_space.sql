-- Idempotency keys belong to the caller that used them: its calling tenant (the departments it
-- belongs to) and subject, as `tenants/subject` (crates/store/src/lib.rs, key_space). Before, keys
-- were per target department only, so a caller writing into another department (internal-customer
-- feedback, a recognition) shared that department's key space and could replay its responses.
-- Keys stored before this migration keep an empty key space: a retry that crosses the upgrade is
-- treated as a new request (keys are only for retries, which come within seconds).
-- SQLite cannot change a primary key in place: the table is rebuilt.
CREATE TABLE idempotency_keys_new (
    department_id TEXT    NOT NULL,
    caller        TEXT    NOT NULL,
    request_id    TEXT    NOT NULL,
    operation     TEXT    NOT NULL,
    request_hash  TEXT    NOT NULL,
    resource_id   TEXT    NOT NULL,
    create_time   INTEGER NOT NULL,
    PRIMARY KEY (department_id, caller, request_id)
);
INSERT INTO idempotency_keys_new (department_id, caller, request_id, operation, request_hash, resource_id, create_time)
    SELECT department_id, '', request_id, operation, request_hash, resource_id, create_time FROM idempotency_keys;
DROP TABLE idempotency_keys;
ALTER TABLE idempotency_keys_new RENAME TO idempotency_keys;
