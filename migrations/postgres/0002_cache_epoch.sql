-- A counter that moves whenever a client or API key changes, so that every instance can empty
-- its credential caches within seconds (see src/domain/cache.rs). Inserting a row does not
-- move it: nothing about a new row can be cached yet.
CREATE TABLE cache_epoch (
    id    BIGINT PRIMARY KEY CHECK (id = 1),  -- a single row
    epoch BIGINT NOT NULL                     -- bumped by the triggers below
);
INSERT INTO cache_epoch (id, epoch) VALUES (1, 0);

CREATE FUNCTION tollgate_bump_cache_epoch() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE cache_epoch SET epoch = epoch + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER clients_changed AFTER UPDATE OR DELETE OR TRUNCATE ON clients
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_bump_cache_epoch();
CREATE TRIGGER api_keys_changed AFTER UPDATE OR DELETE OR TRUNCATE ON api_keys
    FOR EACH STATEMENT EXECUTE FUNCTION tollgate_bump_cache_epoch();
