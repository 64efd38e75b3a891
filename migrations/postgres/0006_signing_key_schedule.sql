-- Key rotation: a new key is published (in the JWKS) before it signs anything, and an old one
-- stays published until every token it signed has expired.
ALTER TABLE signing_keys ADD COLUMN activates_at BIGINT NOT NULL DEFAULT 0; -- Unix seconds: signs from then on
ALTER TABLE signing_keys ADD COLUMN retires_at BIGINT;                      -- leaves the JWKS then; NULL: not retiring
ALTER TABLE signing_keys ADD COLUMN rotated_from TEXT UNIQUE;               -- the kid it replaces: one successor each

-- Every instance reloads its keys when they change, through the cache epoch.
CREATE TRIGGER signing_keys_changed AFTER INSERT OR UPDATE OR DELETE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_bump_cache_epoch();
