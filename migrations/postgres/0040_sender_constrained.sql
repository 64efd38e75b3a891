-- Sender-constrained access tokens (issue 12). A client registered with require_dpop gets a
-- token only with a DPoP proof (RFC 9449 §5). The column is on `clients`, whose cache-epoch
-- triggers (0002, 0007) already carry a change to every instance.
ALTER TABLE clients ADD COLUMN require_dpop BIGINT NOT NULL DEFAULT 0
    CHECK (require_dpop IN (0, 1)); -- 1: a token request without a DPoP proof is refused
-- 1: its tokens are bound to the client certificate of the token request (RFC 8705 §3), which
-- it must then present there and wherever it uses them.
ALTER TABLE clients ADD COLUMN bind_certificate BIGINT NOT NULL DEFAULT 0
    CHECK (bind_certificate IN (0, 1));

-- tls_client_auth (RFC 8705 §2.1): the client authenticates with a certificate that chains to
-- the configured CA and names it, by its subject DN or one subject alternative name.
ALTER TABLE clients DROP CONSTRAINT clients_auth_method_check;
ALTER TABLE clients ADD CONSTRAINT clients_auth_method_check
    CHECK (auth_method IN ('client_secret', 'private_key_jwt', 'tls_client_auth'));
ALTER TABLE clients ADD COLUMN tls_subject_dn TEXT; -- RFC 4514 string the certificate's subject must equal, or
ALTER TABLE clients ADD COLUMN tls_san_dns TEXT;    -- a DNS name among its subject alternative names, or
ALTER TABLE clients ADD COLUMN tls_san_uri TEXT;    -- a URI among them (exactly one of the three is set)
