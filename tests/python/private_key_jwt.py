"""A partner integrating with tollgate from Python, with stock libraries used as their own
documentation shows, holding no shared secret (private_key_jwt, RFC 7523):

1. authlib's documented example: OAuth2Session + PrivateKeyJWT(token_endpoint), RS256 (authlib's
   default) with a PEM private key; the assertion carries no kid.
2. authlib with an EC key and alg ES256, PrivateKeyJWT() without a token endpoint (the assertion's
   aud is then the URL each request goes to), for a token and then to revoke it (RFC 7009).
3. The README's partner section: a one-line PyJWT assertion, posted with requests.

Run by tests/api/private_key_jwt/authlib.rs against the real server. Reads TOLLGATE_URL,
RSA_KEY_PEM and EC_KEY_PEM (files) from the environment; prints one JSON object of results.
"""

import json
import os
import sys
import time
import uuid

try:
    import jwt  # PyJWT
    import requests
    from authlib.integrations.requests_client import OAuth2Session
    from authlib.oauth2.rfc7523 import PrivateKeyJWT
    # authlib 1.6+ signs with joserfc (its own dependency) and takes its key objects.
    from joserfc.jwk import ECKey
except ImportError as missing:
    sys.exit(
        f"a Python package is missing ({missing}): "
        "python3 -m pip install authlib pyjwt requests cryptography"
    )

base = os.environ["TOLLGATE_URL"]
token_url = f"{base}/access_token"
with open(os.environ["RSA_KEY_PEM"]) as f:
    rsa_pem = f.read()
with open(os.environ["EC_KEY_PEM"]) as f:
    ec_pem = f.read()
results = {}

# 1. As authlib's documentation shows it.
session = OAuth2Session(
    "py-rsa", rsa_pem, token_endpoint_auth_method="private_key_jwt", scope="profile:read"
)
session.register_client_auth_method(PrivateKeyJWT(token_url))
results["rsa"] = session.fetch_token(token_url, grant_type="client_credentials")

# 2. ES256, aud = the URL of each request; the same method authenticates the revocation.
session = OAuth2Session(
    "py-ec",
    ECKey.import_key(ec_pem),
    token_endpoint_auth_method="private_key_jwt",
    revocation_endpoint_auth_method="private_key_jwt",
)
session.register_client_auth_method(PrivateKeyJWT(alg="ES256"))
results["ec"] = session.fetch_token(token_url, grant_type="client_credentials")
revoked = session.revoke_token(f"{base}/revoke", results["ec"]["access_token"])
results["revoke_status"] = revoked.status_code

# 3. The README's one-liner (PyJWT), then a plain form POST.
now = int(time.time())
assertion = jwt.encode(
    {"iss": "py-ec", "sub": "py-ec", "aud": token_url, "iat": now, "exp": now + 60,
     "jti": str(uuid.uuid4())},
    ec_pem,
    algorithm="ES256",
)
answer = requests.post(
    token_url,
    data={
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    },
    timeout=10,
)
results["pyjwt"] = {"status": answer.status_code, "body": answer.json()}
# The same assertion again: a replay.
again = requests.post(
    token_url,
    data={
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    },
    timeout=10,
)
results["replay"] = {"status": again.status_code, "body": again.json()}
print(json.dumps(results))
