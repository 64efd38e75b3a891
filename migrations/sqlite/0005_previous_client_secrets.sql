-- Secrets a client had before its current one, still accepted until expires_at, so a partner
-- can roll a new secret out without downtime (`tollgate client rotate-secret`).
CREATE TABLE previous_client_secrets (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id   TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    secret_hash TEXT NOT NULL,      -- argon2id PHC string, bound to client_id; never the secret
    expires_at  INTEGER NOT NULL,   -- Unix seconds: the old secret stops working then
    created_at  INTEGER NOT NULL
);
CREATE INDEX previous_client_secrets_client ON previous_client_secrets (client_id);

-- Ending an old secret early must reach every instance's cache like any other change.
CREATE TRIGGER previous_client_secrets_updated AFTER UPDATE ON previous_client_secrets
BEGIN UPDATE cache_epoch SET epoch = epoch + 1 WHERE id = 1; END;
CREATE TRIGGER previous_client_secrets_deleted AFTER DELETE ON previous_client_secrets
BEGIN UPDATE cache_epoch SET epoch = epoch + 1 WHERE id = 1; END;
