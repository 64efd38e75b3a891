#!/usr/bin/env python3
"""Verifies chat-widget tokens the way each vendor would, with PyJWT (not tollgate's code).

Reads a JSON list on stdin; each item is one token and how its vendor checks it:
  {"name", "token", "alg", "secret"}            HMAC with the vendor's secret
  {"name", "token", "alg", "jwks_uri"}          public key fetched from the profile's JWKS URL
  {"name", "token", "alg", "pem"}               a public key pasted in the vendor's console
  {"name", "token", "alg", "jwk": {...}}         one public JWK (a token without a kid)
  {"name", "token", "alg", "x5c_jwk": {...}}     an uploaded JWK: its x5c certificate's key must
                                                be the JWK's own, and verifies the token
  {"name", "sprinklr": {...user}, "secret"}     Sprinklr's hex HMAC-SHA256 over the fields
Prints {"<name>": <verified claims, or the hash it recomputed>} on stdout; any failure exits 1.
Times are not checked: the golden tests issue tokens at a fixed clock in the past.
"""
import hashlib
import hmac
import json
import sys

import jwt

OPTIONS = {"verify_exp": False, "verify_nbf": False, "verify_iat": False, "verify_aud": False}


def x5c_key(jwk):
    """The public key of the JWK's certificate (RFC 7517 section 4.7: standard base64 DER),
    refused unless it is the key the JWK itself carries."""
    import base64
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    cert = x509.load_der_x509_certificate(base64.b64decode(jwk["x5c"][0]))
    from_cert = cert.public_key()
    from_jwk = jwt.PyJWK.from_dict(jwk).key
    spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if from_cert.public_bytes(*spki) != from_jwk.public_bytes(*spki):
        raise ValueError("the x5c certificate holds another key than the JWK")
    return from_cert


def verify(item):
    if "sprinklr" in item:
        u = item["sprinklr"]
        fields = [u["id"], u["firstName"], u["lastName"], u["profileImageUrl"], u["phoneNo"],
                  u["email"], str(u["hashCreationTime"])]
        expected = hmac.new(item["secret"].encode(), "_".join(fields).encode(),
                            hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, u["hash"]):
            raise ValueError(f"hash mismatch: expected {expected}")
        return expected
    alg = item["alg"]
    if "secret" in item:
        key = item["secret"]
    elif "jwk" in item:
        key = jwt.PyJWK.from_dict(item["jwk"]).key
    elif "x5c_jwk" in item:
        key = x5c_key(item["x5c_jwk"])
    elif "jwks_uri" in item:
        key = jwt.PyJWKClient(item["jwks_uri"]).get_signing_key_from_jwt(item["token"]).key
    else:
        key = item["pem"]
    return jwt.decode(item["token"], key, algorithms=[alg], options=OPTIONS)


def main():
    items = json.load(sys.stdin)
    out = {}
    for item in items:
        try:
            out[item["name"]] = verify(item)
        except Exception as e:  # report which token failed, then fail
            print(f"{item['name']}: {type(e).__name__}: {e}", file=sys.stderr)
            sys.exit(1)
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
