-- Mutual TLS, the rest of RFC 8705 §2 (issue 12). self_signed_tls_client_auth (§2.2): the
-- client's certificate, self-signed or not, carries one of the public keys registered in its
-- jwks or published at its jwks_uri (the columns private_key_jwt uses). tls_client_auth may
-- now also name the client by an IP address or an email address among the certificate's
-- subject alternative names (§2.1.2). SQLite cannot change a CHECK constraint: the column is
-- replaced by one with the wider check, as in 0040.
ALTER TABLE clients RENAME COLUMN auth_method TO auth_method_0045;
ALTER TABLE clients ADD COLUMN auth_method TEXT NOT NULL DEFAULT 'client_secret'
    CHECK (auth_method IN ('client_secret', 'private_key_jwt', 'tls_client_auth',
                           'self_signed_tls_client_auth'));
UPDATE clients SET auth_method = auth_method_0045;
ALTER TABLE clients DROP COLUMN auth_method_0045;
ALTER TABLE clients ADD COLUMN tls_san_ip TEXT;    -- or an IP address among them (canonical text form), or
ALTER TABLE clients ADD COLUMN tls_san_email TEXT; -- an email address among them (still exactly one of the five)
