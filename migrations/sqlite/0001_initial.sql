-- tollgate schema, SQLite dialect. Times are Unix seconds (INTEGER) and flags 0/1 so that
-- one set of queries serves PostgreSQL and SQLite alike.

-- Partner platforms that trade client credentials for access tokens (RFC 6749 §4.4).
CREATE TABLE clients (
    client_id      TEXT PRIMARY KEY,            -- RFC 6749 §2.2; printable ASCII, at most 128
    secret_hash    TEXT NOT NULL,               -- argon2id PHC string of the secret, bound to client_id; never the secret
    allowed_scopes TEXT NOT NULL DEFAULT '',    -- space-delimited scopes the client may request
    default_scopes TEXT NOT NULL DEFAULT '',    -- granted when a request names no scope (RFC 6749 §3.3)
    audience       TEXT,                        -- aud of its tokens; NULL: the server's default audience
    enabled        INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)), -- 0 refuses tokens, keeps the row
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);

-- API keys that partners send in the api-key header of guarded customer APIs.
CREATE TABLE api_keys (
    prefix     TEXT PRIMARY KEY,                -- public part of tg_<prefix>_<secret>: lookups never scan
    name       TEXT NOT NULL,                   -- whose key this is, for humans
    key_hash   TEXT NOT NULL,                   -- argon2id PHC string of the secret part, bound to the prefix
    apis       TEXT NOT NULL DEFAULT 'getprofile', -- space-delimited APIs the key may call
    created_at INTEGER NOT NULL,
    revoked_at INTEGER                           -- set: the key no longer works
);

-- Customers who log in with a username and password.
CREATE TABLE customers (
    customer_id   TEXT PRIMARY KEY,             -- opaque random UUID: the sub of customer tokens; never changes, no PII
    username      TEXT NOT NULL UNIQUE,         -- login name, lower-cased
    password_hash TEXT NOT NULL,                -- argon2id PHC string, bound to customer_id
    name          TEXT,
    email         TEXT,
    phone         TEXT,                         -- E.164
    attributes    TEXT NOT NULL DEFAULT '{}',   -- JSON object of further profile fields
    created_at    INTEGER NOT NULL
);

-- Token-signing keys, shared by every instance on this database.
CREATE TABLE signing_keys (
    kid            TEXT PRIMARY KEY,            -- RFC 7638 thumbprint (random for HMAC keys)
    alg            TEXT NOT NULL,               -- ES256, EdDSA, RS256 or HS256
    sealed_private BLOB NOT NULL,              -- nonce || AES-256-GCM(private key), kid as AAD, under the master key
    public_jwk     TEXT,                        -- RFC 7517 public JWK; NULL for HMAC keys
    first_of_alg   TEXT UNIQUE,                 -- set on a bootstrap key: one wins when instances start together
    created_at     INTEGER NOT NULL
);
