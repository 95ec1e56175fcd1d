-- Media references of a piece of feedback (photos of a pothole, an Open311 client's media_url):
-- absolute http(s) URLs, one per line, '' for none. CityServe keeps the reference, never the
-- file. Erased with the resident, like the text and the address.
ALTER TABLE feedback ADD COLUMN media_urls TEXT NOT NULL DEFAULT '';
