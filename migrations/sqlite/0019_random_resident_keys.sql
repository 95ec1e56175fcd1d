-- Resident keys were keyed hashes of the e-mail or phone, so the same contact always came back to
-- the same key, also after erasure. From now on a key is random, assigned at first contact, and
-- only the identity index (keyed hashes of the contact details) points to it: erasure deletes
-- those entries, and nothing leads from the contact to the key again. This gives every existing
-- resident a new random key in every table that holds one. (Audit rows and events are
-- append-only: those written before this migration keep naming the old keys, which now lead to
-- no row.)
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
DROP TABLE rekey;
