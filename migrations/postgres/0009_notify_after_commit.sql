-- Writes no longer NOTIFY from inside their transaction. A transaction that has queued a
-- notification takes a cluster-wide lock at commit and holds it until its commit record is
-- flushed, so every writing transaction's WAL flush ran one after another (no group commit).
-- The server now notifies `cityserve_events` from its own connection after committing
-- (crates/store-postgres/src/lib.rs, publish_commits); watchers' 2 s re-read covers the rest.
DROP TRIGGER events_notify ON events;
DROP FUNCTION events_notify();
