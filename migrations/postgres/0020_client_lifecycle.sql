-- The client lifecycle (issue 13): per-client settings, deleted client ids, disabled customers.

-- A client's operating settings, in a table of their own so that `clients` keeps only what
-- authenticates it. No row: the server's defaults, no rate limit, no quota.
CREATE TABLE client_policies (
    client_id    TEXT PRIMARY KEY REFERENCES clients (client_id) ON DELETE CASCADE,
    token_ttl    BIGINT CHECK (token_ttl > 0),  -- access-token lifetime, seconds; NULL: TOLLGATE_ACCESS_TOKEN_TTL, which also caps it
    rate_count   BIGINT CHECK (rate_count > 0), -- short-term limit: rate_count token requests per rate_window seconds
    rate_window  BIGINT CHECK (rate_window IN (1, 60, 3600, 86400)),
    quota_count  BIGINT CHECK (quota_count > 0), -- long-term quota: quota_count token requests per quota_window seconds
    quota_window BIGINT CHECK (quota_window IN (1, 60, 3600, 86400)),
    quota_mode   TEXT NOT NULL DEFAULT 'enforce' CHECK (quota_mode IN ('enforce', 'observe')), -- observe: count and log, never refuse
    updated_at   BIGINT NOT NULL,
    CHECK ((rate_count IS NULL) = (rate_window IS NULL)),
    CHECK ((quota_count IS NULL) = (quota_window IS NULL))
);

-- Instances cache a client with its settings: a change must empty the caches like any other.
CREATE TRIGGER client_policies_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
    ON client_policies FOR EACH STATEMENT EXECUTE FUNCTION tollgate_bump_cache_epoch();

-- Ids of deleted clients. Tokens name their client by id only, so an id is not given to a new
-- client while tokens issued to the deleted one may still be unexpired.
CREATE TABLE deleted_clients (
    client_id   TEXT PRIMARY KEY,
    deleted_at  BIGINT NOT NULL,     -- Unix seconds
    reusable_at BIGINT NOT NULL      -- deleted_at + the longest access-token lifetime + 60 s
);

ALTER TABLE customers ADD COLUMN disabled_at BIGINT; -- set: the customer cannot log in and their profile is not served
ALTER TABLE customers ADD COLUMN updated_at BIGINT;  -- last change by an admin; NULL: never changed
