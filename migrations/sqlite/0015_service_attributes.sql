-- What Open311 asks of a service catalogue.
-- Service attributes (Open311): the questions a service category asks beyond the description,
-- as a JSON array of definitions ('' for none), read with the category and by the intake of
-- every submission naming it.
ALTER TABLE service_categories ADD COLUMN attributes TEXT NOT NULL DEFAULT '';
-- A submission's answers to those questions (and extra ones a client sent), as a JSON array of
-- {code, values} ('' for none). Erased with the resident, like the text: an answer may name them.
ALTER TABLE feedback ADD COLUMN attributes TEXT NOT NULL DEFAULT '';
-- Whether a category's complaints are public service requests: listed by the Open311 gateway's
-- GET requests whatever channel they came in by (without contact details). Off by default.
ALTER TABLE service_categories ADD COLUMN public INTEGER NOT NULL DEFAULT 0 CHECK (public IN (0, 1));
-- The Open311 client's identifiers of the resident's device and account (device_id, account_id),
-- returned as sent where the spec says, never published, erased with the resident.
ALTER TABLE feedback ADD COLUMN device_id TEXT NOT NULL DEFAULT '';
ALTER TABLE feedback ADD COLUMN account_id TEXT NOT NULL DEFAULT '';
-- The public list of service requests (newest first, a complaint at a time, every channel) walks
-- this instead of every feedback row of the period; complaints only, to spare other writes.
CREATE INDEX feedback_complaints_newest ON feedback (received_at DESC, department_id, feedback_id)
    WHERE kind = 'complaint';
