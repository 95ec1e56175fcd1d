-- Report cards in the city's days: the rollups are keyed by local dates in one time zone, the
-- city calendar's as of their last rebuild, recorded here with the version of the counters'
-- definitions they were built under (version 0: built before either existed, in UTC days). The
-- server rebuilds the rollups from the raw rows when it starts and finds them behind the code's
-- version or the city's time zone; `cityserve rollups rebuild` does it on demand.
CREATE TABLE rollup_zone (
    zone_id   INTEGER NOT NULL PRIMARY KEY CHECK (zone_id = 1),
    time_zone TEXT    NOT NULL,
    version   INTEGER NOT NULL,
    built_at  INTEGER
);
INSERT INTO rollup_zone (zone_id, time_zone, version) VALUES (1, 'UTC', 0);

-- A case closed as another department's was marked acknowledged at its closing; it is
-- redirected, never acknowledged (the rebuild then counts it so).
UPDATE cases SET acknowledged_at = NULL
WHERE owner_department IS NOT NULL AND acknowledged_at = closed_at;
