-- Resident keys were keyed hashes of the e-mail or phone, so the same contact always came back to
-- the same key, also after erasure. From now on a key is random, assigned at first contact, and
-- only the identity index (keyed hashes of the contact details) points to it: erasure deletes
-- those entries, and nothing leads from the contact to the key again. This gives every existing
-- resident a new random key in every table that holds one, the audit log and the event log
-- included: an old key could be computed again from the contact and the secret, so no row may
-- keep one, not even an erased resident's (they get a new key that nothing else names).
-- The tables have FORCE ROW LEVEL SECURITY: act as the Chief (transaction-local), so the rewrite
-- is complete even when the owner running migrations is not a superuser.
SELECT set_config('app.role', 'chief', true);

CREATE TEMPORARY TABLE rekey ON COMMIT DROP AS
SELECT old, 'r-' || replace(gen_random_uuid()::text, '-', '') AS new
FROM (
    SELECT resident_key AS old FROM resident_identifiers
    UNION SELECT resident_key FROM resident_contact_details
    UNION SELECT resident_key FROM feedback WHERE resident_key IS NOT NULL
    UNION SELECT resident_key FROM cases WHERE resident_key IS NOT NULL
    UNION SELECT resident_key FROM handoffs WHERE resident_key IS NOT NULL
    UNION SELECT resident_key FROM timeline_entries
    UNION SELECT substr(resource, 11) FROM audit_log WHERE resource LIKE 'residents/r-%'
    UNION SELECT substr(resource, 11) FROM events WHERE resource LIKE 'residents/r-%'
) keys;
CREATE UNIQUE INDEX ON rekey (old);

UPDATE feedback t SET resident_key = r.new FROM rekey r WHERE t.resident_key = r.old;
UPDATE cases t SET resident_key = r.new FROM rekey r WHERE t.resident_key = r.old;
UPDATE handoffs t SET resident_key = r.new FROM rekey r WHERE t.resident_key = r.old;
UPDATE timeline_entries t SET resident_key = r.new FROM rekey r WHERE t.resident_key = r.old;
UPDATE resident_contact_details t SET resident_key = r.new FROM rekey r WHERE t.resident_key = r.old;
-- The identity index has no UPDATE policy (entries are added and erased, never changed): move
-- each entry by deleting and inserting it.
CREATE TEMPORARY TABLE moved ON COMMIT DROP AS
SELECT i.identifier, r.new AS resident_key, i.create_time
FROM resident_identifiers i JOIN rekey r ON r.old = i.resident_key;
DELETE FROM resident_identifiers;
INSERT INTO resident_identifiers (identifier, resident_key, create_time)
SELECT identifier, resident_key, create_time FROM moved;

-- The audit and event logs name residents by resource (`residents/{key}`; an erasure's event
-- also as `{"resident": key}`). The application may only append to them; the migration, as
-- their owner acting as the Chief, rewrites the key and nothing else.
UPDATE audit_log t SET resource = 'residents/' || r.new FROM rekey r WHERE t.resource = 'residents/' || r.old;
UPDATE events t
SET resource = 'residents/' || r.new,
    payload = CASE WHEN t.payload ? 'resident' THEN jsonb_set(t.payload, '{resident}', to_jsonb(r.new)) ELSE t.payload END
FROM rekey r WHERE t.resource = 'residents/' || r.old;
