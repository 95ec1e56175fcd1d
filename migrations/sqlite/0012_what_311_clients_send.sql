-- What 311 clients send that was dropped before.
-- Media references of a piece of feedback (photos of a pothole, an Open311 client's media_url):
-- absolute http(s) URLs, one per line, '' for none. CityServe keeps the reference, never the
-- file. Erased with the resident, like the text and the address.
ALTER TABLE feedback ADD COLUMN media_urls TEXT NOT NULL DEFAULT '';
-- The city's own identifier of the address (an Open311 client's address_id), returned as sent;
-- erased with the resident, like the address.
ALTER TABLE feedback ADD COLUMN address_id TEXT NOT NULL DEFAULT '';
-- The resident's name as they gave it (Open311 first_name and last_name): contact data like the
-- e-mail and phone beside it, never published, deleted with them on erasure.
ALTER TABLE resident_contact_details ADD COLUMN name TEXT NOT NULL DEFAULT '';
