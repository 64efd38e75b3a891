-- The jti of every client assertion accepted (RFC 7523 §3 item 7), until the assertion expires,
-- so that a replay is refused by every instance on this database. Not used when Redis is
-- configured (TOLLGATE_REDIS_URL), which then holds them. Expired rows are deleted by the
-- instances as they go.
CREATE TABLE client_assertion_jtis (
    client_id  TEXT NOT NULL,       -- the client that signed it (no foreign key: cheap inserts)
    jti        TEXT NOT NULL,       -- as the client sent it, at most 256 bytes
    expires_at BIGINT NOT NULL,     -- Unix seconds: the assertion's exp plus the clock leeway
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX client_assertion_jtis_expiry ON client_assertion_jtis (expires_at);
