-- PostgreSQL 0009 drops the NOTIFY trigger on events (the server notifies after commit).
-- SQLite wakes watchers in process; this keeps the two migration sequences numbered alike.
SELECT 1;
