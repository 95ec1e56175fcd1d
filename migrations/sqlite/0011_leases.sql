-- Leases of jobs that run on exactly one replica at a time (the NATS publisher): the holder renews
-- before `expires_at` (microseconds since the epoch); another replica takes an expired lease.
-- `position` is how far the job got (the publisher: the last event it published), saved by the
-- holder only, so the next holder resumes there.
CREATE TABLE leases (
    name       TEXT    NOT NULL PRIMARY KEY,
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    position   INTEGER
);
