-- Per-profile signing keys of chat-widget profiles whose vendor verifies with a public key
-- (Salesforce, LivePerson, Zoom, generic asymmetric templates). Kept apart from signing_keys:
-- they never sign tollgate's own tokens and are published only at their profile's JWKS URL.
CREATE TABLE widget_keys (
    kid            TEXT PRIMARY KEY,            -- RFC 7638 thumbprint
    profile        TEXT NOT NULL,               -- the widget profile's name
    alg            TEXT NOT NULL,               -- RS256, RS512, PS256, ES256 or EdDSA
    sealed_private BLOB NOT NULL,               -- nonce || AES-256-GCM(PKCS#8), kid as AAD, under the master key
    public_jwk     TEXT NOT NULL,               -- RFC 7517 public JWK
    certificate    BLOB,                        -- self-signed X.509 (DER) of the key: the JWK's x5c
    first_of       TEXT UNIQUE,                 -- profile name on a profile's first key: one wins when instances start together
    created_at     INTEGER NOT NULL,            -- Unix seconds; the newest live key signs
    retires_at     INTEGER,                     -- leaves the JWKS then; NULL: not retiring
    rotated_from   TEXT UNIQUE                  -- the kid it replaces: one successor each
);
CREATE INDEX widget_keys_profile ON widget_keys (profile);

-- Every instance reloads the widget keys when they change (a rotation), through the cache epoch.
CREATE TRIGGER widget_keys_inserted AFTER INSERT ON widget_keys
BEGIN UPDATE cache_epoch SET epoch = epoch + 1 WHERE id = 1; END;
CREATE TRIGGER widget_keys_updated AFTER UPDATE ON widget_keys
BEGIN UPDATE cache_epoch SET epoch = epoch + 1 WHERE id = 1; END;
CREATE TRIGGER widget_keys_deleted AFTER DELETE ON widget_keys
BEGIN UPDATE cache_epoch SET epoch = epoch + 1 WHERE id = 1; END;
