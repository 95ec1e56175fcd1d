-- The audit log records the outcome of each audited request: 'ok' for a change (or a read of
-- resident data) that happened, else the gRPC code name of the refusal ('permission_denied',
-- 'not_found', 'failed_precondition', 'aborted', 'invalid_argument', ...). Rows written before
-- this migration were all successful writes.
ALTER TABLE audit_log ADD COLUMN outcome text NOT NULL DEFAULT 'ok';

-- Newest-first listings (ListAuditEvents) walk the identity backwards, per department or across
-- all of them.
CREATE INDEX audit_log_newest ON audit_log (audit_id DESC);

-- Append-only for the application: re-stated so that no earlier or later grant widens it.
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM cityserve_app;
GRANT SELECT, INSERT ON audit_log TO cityserve_app;
