"""A partner using DPoP (RFC 9449) from Python with stock libraries: joserfc (authlib's JOSE
library) builds the proofs, requests sends them. It follows the RFC as a client library would:
a new proof per request, ath for the resource, and the use_dpop_nonce retry of §8 and §9.

Run by tests/api/dpop/python.rs against the real server. Reads TOLLGATE_URL, CLIENT_ID,
CLIENT_SECRET, API_KEY and CUSTOMER_ID from the environment; prints one JSON object of results.
"""

import base64
import hashlib
import json
import os
import sys
import time
import uuid

try:
    import requests
    from joserfc import jwt
    from joserfc.jwk import ECKey
except ImportError as missing:
    sys.exit(
        f"a Python package is missing ({missing}): "
        "python3 -m pip install authlib joserfc requests cryptography"
    )

base = os.environ["TOLLGATE_URL"]
key = ECKey.generate_key("P-256")
public_jwk = key.as_dict(private=False)
nonce = None


def proof(method, url, access_token=None):
    claims = {"jti": str(uuid.uuid4()), "htm": method, "htu": url, "iat": int(time.time())}
    if access_token is not None:
        digest = hashlib.sha256(access_token.encode("ascii")).digest()
        claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
    if nonce is not None:
        claims["nonce"] = nonce
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk}
    return jwt.encode(header, claims, key)


def send(method, url, access_token=None, **kwargs):
    """One request with a fresh proof; once more with the server's nonce if it asks (§8, §9)."""
    global nonce
    retried = False
    while True:
        headers = dict(kwargs.pop("headers", {}))
        headers["DPoP"] = proof(method, url, access_token)
        if access_token is not None:
            headers["Authorization"] = f"DPoP {access_token}"
        res = requests.request(method, url, headers=headers, **kwargs)
        if "DPoP-Nonce" in res.headers:
            nonce = res.headers["DPoP-Nonce"]
        asked = res.status_code in (400, 401) and (
            res.headers.get("content-type", "").startswith("application/json")
            and res.json().get("error") == "use_dpop_nonce"
        )
        if asked and not retried:
            retried = True
            kwargs["headers"] = headers
            continue
        return res, retried


results = {}
token_url = f"{base}/access_token"
res, retried = send(
    "POST",
    token_url,
    data={"grant_type": "client_credentials"},
    auth=(os.environ["CLIENT_ID"], os.environ["CLIENT_SECRET"]),
)
results["token"] = {"status": res.status_code, "body": res.json(), "retried": retried}
access_token = res.json().get("access_token")

profile_url = f"{base}/getprofile"
res, retried = send(
    "POST",
    profile_url,
    access_token=access_token,
    headers={"api-key": os.environ["API_KEY"], "X-Customer-Id": os.environ["CUSTOMER_ID"]},
)
results["profile"] = {"status": res.status_code, "body": res.json(), "retried": retried}

# The token as a thief would use it: as a bearer token, without the key.
res = requests.post(
    profile_url,
    headers={
        "Authorization": f"Bearer {access_token}",
        "api-key": os.environ["API_KEY"],
        "X-Customer-Id": os.environ["CUSTOMER_ID"],
    },
)
results["stolen"] = {
    "status": res.status_code,
    "body": res.json(),
    "www_authenticate": res.headers.get("WWW-Authenticate"),
}
results["jkt"] = key.thumbprint()
print(json.dumps(results))
