-- Auditors may read any resident's timeline (the policy's ReadTimeline is city-wide for them), and
-- every timeline read is audited in each department it disclosed. Their audit rows were refused by
-- row-level security (the policy below admitted cso, staff and service only), so an auditor's
-- timeline read failed. Auditors stay read-only everywhere else: this admits only `timeline.read`
-- audit rows.
ALTER POLICY timeline_read_audited ON audit_log
    WITH CHECK (
        action = 'timeline.read'
        AND (SELECT current_setting('app.role', true)) IN ('cso', 'staff', 'service', 'auditor')
    );
