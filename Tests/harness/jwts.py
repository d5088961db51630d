"""JWTs made by the tests themselves (forged, expired, with odd headers) the way the gateway
signs its own: HS256 over base64url JSON, and the claims the gateway puts in a token."""

import base64
import hashlib
import hmac
import json
import time
import uuid


def b64(data: bytes) -> str:
    """base64url without padding, as in a JWT."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims_for(email, **overrides):
    """The claims of a token of `email` valid for 10 minutes; `overrides` replace or add claims."""
    now = int(time.time())
    claims = {
        "jti": str(uuid.uuid4()),
        "user_email": email,
        "user_id": email,
        "token_name": "t",
        "scopes": ["api:read"],
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "iss": "llm-gateway",
        "aud": "litellm-api",
    }
    claims.update(overrides)
    return claims


def signed(secret: str, claims: dict, header: dict = None) -> str:
    """A compact JWT with exactly this header (HS256 `typ: JWT` unless given), signed with HS256."""
    header = header or {"typ": "JWT", "alg": "HS256"}
    text = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    return text + "." + b64(hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest())


def claims_of(token: str) -> dict:
    """The payload of a compact JWT, unverified."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
