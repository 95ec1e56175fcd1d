-- Report-card counters per UTC calendar month, next to the daily `rollups` (0004). A card over a
-- long period (a quarter is ~92 days) sums whole months from here and only its partial-month
-- edges from `rollups`. `month` is the UTC day number (days since 1970-01-01, the unit of
-- rollups.day) of the 1st of the month. Every write that adds to a daily counter adds the same
-- value to its month's counter in the same transaction (apply_deltas), so for every month
-- sum(rollups_monthly) = sum(rollups over that month's days), per department and metric.
CREATE TABLE rollups_monthly (
    department_id TEXT    NOT NULL,
    month         INTEGER NOT NULL,
    metric        TEXT    NOT NULL,
    value         INTEGER NOT NULL,
    PRIMARY KEY (department_id, month, metric)
) WITHOUT ROWID;

-- Backfill from the daily counters. The 1st of a day's month: the day minus (its day of month - 1).
INSERT INTO rollups_monthly (department_id, month, metric, value)
SELECT department_id, day - (CAST(strftime('%d', day * 86400, 'unixepoch') AS INTEGER) - 1), metric, SUM(value)
FROM rollups
GROUP BY 1, 2, 3;
