-- The client lifecycle (issue 13): per-client settings, deleted client ids, disabled customers.

-- A client's operating settings, in a table of their own so that `clients` keeps only what
-- authenticates it. No row: the server's defaults, no rate limit, no quota.
CREATE TABLE client_policies (
    client_id    TEXT PRIMARY KEY REFERENCES clients (client_id) ON DELETE CASCADE,
    token_ttl    INTEGER CHECK (token_ttl > 0),  -- access-token lifetime, seconds; NULL: TOLLGATE_ACCESS_TOKEN_TTL, which also caps it
    rate_count   INTEGER CHECK (rate_count > 0), -- short-term limit: rate_count token requests per rate_window seconds
    rate_window  INTEGER CHECK (rate_window IN (1, 60, 3600, 86400)),
    quota_count  INTEGER CHECK (quota_count > 0), -- long-term quota: quota_count token requests per quota_window seconds
    quota_window INTEGER CHECK (quota_window IN (1, 60, 3600, 86400)),
    quota_mode   TEXT NOT NULL DEFAULT 'enforce' CHECK (quota_mode IN ('enforce', 'observe')), -- observe: count and log, never refuse
    updated_at   INTEGER NOT NULL,
    CHECK ((rate_count IS NULL) = (rate_window IS NULL)),
    CHECK ((quota_count IS NULL) = (quota_window IS NULL))
);

-- Instances cache a client with its settings: a change must empty the caches like any other.
CREATE TRIGGER client_policies_inserted AFTER INSERT ON client_policies
BEGIN UPDATE cache_epoch SET epoch = epoch + 1 WHERE id = 1; END;
CREATE TRIGGER client_policies_updated AFTER UPDATE ON client_policies
BEGIN UPDATE cache_epoch SET epoch = epoch + 1 WHERE id = 1; END;
CREATE TRIGGER client_policies_deleted AFTER DELETE ON client_policies
BEGIN UPDATE cache_epoch SET epoch = epoch + 1 WHERE id = 1; END;

-- Ids of deleted clients. Tokens name their client by id only, so an id is not given to a new
-- client while tokens issued to the deleted one may still be unexpired.
CREATE TABLE deleted_clients (
    client_id   TEXT PRIMARY KEY,
    deleted_at  INTEGER NOT NULL,     -- Unix seconds
    reusable_at INTEGER NOT NULL      -- deleted_at + the longest access-token lifetime + 60 s
);

ALTER TABLE customers ADD COLUMN disabled_at INTEGER; -- set: the customer cannot log in and their profile is not served
ALTER TABLE customers ADD COLUMN updated_at INTEGER;  -- last change by an admin; NULL: never changed
