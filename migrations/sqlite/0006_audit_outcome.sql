-- The audit log records the outcome of each audited request: 'ok' for a change (or a read of
-- resident data) that happened, else the gRPC code name of the refusal ('permission_denied',
-- 'not_found', 'failed_precondition', 'aborted', 'invalid_argument', ...). Rows written before
-- this migration were all successful writes. The append-only triggers of 0001 still apply.
ALTER TABLE audit_log ADD COLUMN outcome TEXT NOT NULL DEFAULT 'ok';
