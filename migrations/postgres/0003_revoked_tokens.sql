-- Access tokens revoked before their expiry (RFC 7009). Instances read new rows by `seq` every
-- second; a row may be deleted once the token it names has expired.
CREATE TABLE revoked_tokens (
    seq        BIGSERIAL PRIMARY KEY,        -- sync cursor: instances read rows above the last seen
    jti        TEXT NOT NULL UNIQUE,         -- the token's RFC 7519 jti
    client_id  TEXT NOT NULL,                -- who revoked it (the client it was issued to)
    expires_at BIGINT NOT NULL,              -- the token's exp: after it, the row is not needed
    revoked_at BIGINT NOT NULL
);
