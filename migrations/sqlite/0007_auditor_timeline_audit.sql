-- PostgreSQL 0007 widens a row-level-security policy so auditors' timeline reads can be audited.
-- SQLite has no row-level security; this keeps the two migration sequences numbered alike.
SELECT 1;
