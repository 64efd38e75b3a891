-- Sender-constrained access tokens (issue 12). A client registered with require_dpop gets a
-- token only with a DPoP proof (RFC 9449 §5). The column is on `clients`, whose cache-epoch
-- triggers (0002, 0007) already carry a change to every instance.
ALTER TABLE clients ADD COLUMN require_dpop INTEGER NOT NULL DEFAULT 0
    CHECK (require_dpop IN (0, 1)); -- 1: a token request without a DPoP proof is refused
-- 1: its tokens are bound to the client certificate of the token request (RFC 8705 §3), which
-- it must then present there and wherever it uses them.
ALTER TABLE clients ADD COLUMN bind_certificate INTEGER NOT NULL DEFAULT 0
    CHECK (bind_certificate IN (0, 1));
