-- When an initiative started and ended, and the lessons recorded (required to drop one), so the
-- board report can say what started, what finished and what the city learned in a quarter.
ALTER TABLE initiatives ADD COLUMN lessons TEXT NOT NULL DEFAULT '';
ALTER TABLE initiatives ADD COLUMN start_time INTEGER;
ALTER TABLE initiatives ADD COLUMN end_time INTEGER;
-- Existing initiatives: the best times on record (the status change itself was not kept).
UPDATE initiatives SET start_time = create_time WHERE status IN ('active', 'done');
UPDATE initiatives SET end_time = update_time WHERE status IN ('done', 'dropped');
CREATE INDEX initiatives_by_end_time ON initiatives (end_time) WHERE end_time IS NOT NULL;
-- The board report reads a quarter's recognitions (service heroes) by time.
CREATE INDEX recognitions_by_time ON recognitions (create_time);
