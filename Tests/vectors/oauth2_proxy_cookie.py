#!/usr/bin/env python3
"""Prints a session cookie exactly as OAuth2 Proxy v7 (Redis session store) sets it, computed
here independently of the gateway's Swift code, by following OAuth2 Proxy's published source:

- github.com/oauth2-proxy/oauth2-proxy, pkg/sessions/persistence/ticket.go
  (commit 01b7d4d77df02318a0f986fdb66fc42e73ae432b): `newTicket` (id = "<cookie name>-" + hex of
  16 random bytes, secret = 16 random bytes), `encodeTicket` ("v2." + RawURL base64 of the id +
  "." + RawURL base64 of the secret), `makeCookie` (the value signed with `SignedValue` under the
  cookie secret and the cookie name, at the session's creation time);
- pkg/encryption/utils.go (commit 014fa682be348bafce6b29d0a570ee35d44d9ea2): `SignedValue`
  (URL base64 *with* padding of the value, "|", unix seconds, "|", `cookieSignature`) and
  `cookieSignature` (HMAC-SHA256 keyed with the cookie secret string's bytes over
  name + encoded value + time, URL base64 with padding).

The random parts are fixed below so the vector is reproducible. CookieTests.swift
(`aCookieMadeByOAuth2ProxysAlgorithmIsVerified`) holds the printed value.
"""

import base64
import hashlib
import hmac

COOKIE_NAME = "_oauth2_proxy"
COOKIE_SECRET = "vector-cookie-secret-0123456789ab"  # OAUTH2_PROXY_COOKIE_SECRET as configured
RAW_ID = bytes(range(0xA0, 0xB0))  # the 16 "random" id bytes
TICKET_SECRET = bytes(range(0x10, 0x20))  # the 16 "random" AES secret bytes
CREATED_AT = 1_795_000_000


def raw_url_b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def main():
    ticket_id = f"{COOKIE_NAME}-{RAW_ID.hex()}"
    ticket = f"v2.{raw_url_b64(ticket_id.encode())}.{raw_url_b64(TICKET_SECRET)}"
    encoded = base64.urlsafe_b64encode(ticket.encode()).decode()
    stamp = str(CREATED_AT)
    mac = hmac.new(COOKIE_SECRET.encode(), (COOKIE_NAME + encoded + stamp).encode(), hashlib.sha256).digest()
    print(f"session key (Redis): {ticket_id}")
    print(f"cookie value: {encoded}|{stamp}|{base64.urlsafe_b64encode(mac).decode()}")


if __name__ == "__main__":
    main()
