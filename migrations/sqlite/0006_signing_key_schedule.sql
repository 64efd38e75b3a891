-- Key rotation: a new key is published (in the JWKS) before it signs anything, and an old one
-- stays published until every token it signed has expired.
ALTER TABLE signing_keys ADD COLUMN activates_at INTEGER NOT NULL DEFAULT 0; -- Unix seconds: signs from then on
ALTER TABLE signing_keys ADD COLUMN retires_at INTEGER;                      -- leaves the JWKS then; NULL: not retiring
ALTER TABLE signing_keys ADD COLUMN rotated_from TEXT;                       -- the kid it replaces: one successor each
CREATE UNIQUE INDEX signing_keys_rotated_from ON signing_keys (rotated_from);

-- Every instance reloads its keys when they change, through the cache epoch.
CREATE TRIGGER signing_keys_inserted AFTER INSERT ON signing_keys
BEGIN UPDATE cache_epoch SET epoch = epoch + 1 WHERE id = 1; END;
CREATE TRIGGER signing_keys_updated AFTER UPDATE ON signing_keys
BEGIN UPDATE cache_epoch SET epoch = epoch + 1 WHERE id = 1; END;
CREATE TRIGGER signing_keys_deleted AFTER DELETE ON signing_keys
BEGIN UPDATE cache_epoch SET epoch = epoch + 1 WHERE id = 1; END;
