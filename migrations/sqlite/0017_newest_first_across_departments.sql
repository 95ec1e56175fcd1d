-- Listing feedback or cases across departments (the Chief's and auditors' ListFeedback and
-- ListCases, and every export) pages newest first by ID. The primary keys lead with the
-- department, so without these indexes each page sorted every row of the table: an export of
-- 200,000 rows read about 5,000 rows/s and slowed as the table grew (docs/benchmarks.md).
CREATE INDEX feedback_newest_first ON feedback (feedback_id);
CREATE INDEX cases_newest_first ON cases (case_id);
