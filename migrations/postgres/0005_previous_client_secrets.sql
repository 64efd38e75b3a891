-- Secrets a client had before its current one, still accepted until expires_at, so a partner
-- can roll a new secret out without downtime (`tollgate client rotate-secret`).
CREATE TABLE previous_client_secrets (
    id          BIGSERIAL PRIMARY KEY,
    client_id   TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL,      -- argon2id PHC string, bound to client_id; never the secret
    expires_at  BIGINT NOT NULL,    -- Unix seconds: the old secret stops working then
    created_at  BIGINT NOT NULL
);
CREATE INDEX previous_client_secrets_client ON previous_client_secrets (client_id);

-- Ending an old secret early must reach every instance's cache like any other change.
CREATE TRIGGER previous_client_secrets_changed AFTER UPDATE OR DELETE OR TRUNCATE
    ON previous_client_secrets FOR EACH STATEMENT EXECUTE FUNCTION tollgate_bump_cache_epoch();
