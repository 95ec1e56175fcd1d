-- Resident keys were keyed hashes of the e-mail or phone, so the same contact always came back to
-- the same key, also after erasure. From now on a key is random, assigned at first contact, and
-- only the identity index (keyed hashes of the contact details) points to it: erasure deletes
-- those entries, and nothing leads from the contact to the key again. This gives every existing
-- resident a new random key in every table that holds one, the audit log and the event log
-- included: an old key could be computed again from the contact and the secret, so no row may
-- keep one, not even an erased resident's (they get a new key that nothing else names).
CREATE TEMPORARY TABLE rekey (old TEXT PRIMARY KEY, new TEXT NOT NULL);
INSERT INTO rekey (old, new)
SELECT old, 'r-' || lower(hex(randomblob(16)))
FROM (
    SELECT resident_key AS old FROM resident_identifiers
    UNION SELECT resident_key FROM resident_contact_details
    UNION SELECT resident_key FROM feedback WHERE resident_key IS NOT NULL
    UNION SELECT resident_key FROM cases WHERE resident_key IS NOT NULL
    UNION SELECT resident_key FROM handoffs WHERE resident_key IS NOT NULL
    UNION SELECT resident_key FROM timeline_entries
    UNION SELECT substr(resource, 11) FROM audit_log WHERE resource LIKE 'residents/r-%'
    UNION SELECT substr(resource, 11) FROM events WHERE resource LIKE 'residents/r-%'
);

UPDATE feedback SET resident_key = (SELECT new FROM rekey WHERE old = feedback.resident_key)
WHERE resident_key IN (SELECT old FROM rekey);
UPDATE cases SET resident_key = (SELECT new FROM rekey WHERE old = cases.resident_key)
WHERE resident_key IN (SELECT old FROM rekey);
UPDATE handoffs SET resident_key = (SELECT new FROM rekey WHERE old = handoffs.resident_key)
WHERE resident_key IN (SELECT old FROM rekey);
UPDATE timeline_entries SET resident_key = (SELECT new FROM rekey WHERE old = timeline_entries.resident_key)
WHERE resident_key IN (SELECT old FROM rekey);
UPDATE resident_contact_details SET resident_key = (SELECT new FROM rekey WHERE old = resident_contact_details.resident_key)
WHERE resident_key IN (SELECT old FROM rekey);
UPDATE resident_identifiers SET resident_key = (SELECT new FROM rekey WHERE old = resident_identifiers.resident_key)
WHERE resident_key IN (SELECT old FROM rekey);
-- The audit and event logs name residents by resource (`residents/{key}`; an erasure's event
-- also as `{"resident": key}`): rewrite the key and nothing else. The audit log refuses updates
-- by trigger; the migration lifts it for this one statement and puts it back as it was.
DROP TRIGGER audit_log_no_update;
UPDATE audit_log SET resource = 'residents/' || (SELECT new FROM rekey WHERE 'residents/' || old = audit_log.resource)
WHERE resource IN (SELECT 'residents/' || old FROM rekey);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
UPDATE events
SET payload = CASE WHEN json_extract(payload, '$.resident') IS NOT NULL
                   THEN json_set(payload, '$.resident', (SELECT new FROM rekey WHERE 'residents/' || old = events.resource))
                   ELSE payload END,
    resource = 'residents/' || (SELECT new FROM rekey WHERE 'residents/' || old = events.resource)
WHERE resource IN (SELECT 'residents/' || old FROM rekey);
DROP TABLE rekey;
