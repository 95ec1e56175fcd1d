-- Signing in through the city's identity provider (OpenID Connect): an officer carries the
-- provider's subject for them, so a provider token (whose `sub` is the provider's, not our officer
-- ID) maps to exactly one officer. Empty until set; unique city-wide when set. Roles still follow
-- appointments: the provider says who someone is, never what they may do.
ALTER TABLE officers ADD COLUMN identity_subject TEXT NOT NULL DEFAULT '';
CREATE UNIQUE INDEX officers_by_identity_subject ON officers (identity_subject) WHERE identity_subject <> '';
