-- How a client authenticates (RFC 7591 §2 token_endpoint_auth_method): with its secret
-- (client_secret_basic or client_secret_post, both accepted) or with a JWT signed by one of its
-- own keys (private_key_jwt, RFC 7523 §2.2), whose public keys are given here or fetched.
ALTER TABLE clients ADD COLUMN auth_method TEXT NOT NULL DEFAULT 'client_secret'
    CHECK (auth_method IN ('client_secret', 'private_key_jwt'));
-- The client's public keys as an RFC 7517 JWK Set (private_key_jwt only); never a private key.
ALTER TABLE clients ADD COLUMN jwks TEXT;
-- Or where to fetch that JWK Set (https://, or http:// on a loopback address).
ALTER TABLE clients ADD COLUMN jwks_uri TEXT;
-- The audience column now holds the client's audiences, space-delimited (absolute URIs, which
-- contain no spaces, or the server's own API audience); NULL: the server's default audience.
