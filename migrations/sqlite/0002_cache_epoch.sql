-- A counter that moves whenever a client or API key changes, so that every instance can empty
-- its credential caches within seconds (see src/domain/cache.rs). Inserting a row does not
-- move it: nothing about a new row can be cached yet.
CREATE TABLE cache_epoch (
    id    INTEGER PRIMARY KEY CHECK (id = 1),  -- a single row
    epoch INTEGER NOT NULL                     -- bumped by the triggers below
);
INSERT INTO cache_epoch (id, epoch) VALUES (1, 0);

CREATE TRIGGER clients_updated AFTER UPDATE ON clients
BEGIN UPDATE cache_epoch SET epoch = epoch + 1 WHERE id = 1; END;
CREATE TRIGGER clients_deleted AFTER DELETE ON clients
BEGIN UPDATE cache_epoch SET epoch = epoch + 1 WHERE id = 1; END;
CREATE TRIGGER api_keys_updated AFTER UPDATE ON api_keys
BEGIN UPDATE cache_epoch SET epoch = epoch + 1 WHERE id = 1; END;
CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys
BEGIN UPDATE cache_epoch SET epoch = epoch + 1 WHERE id = 1; END;
