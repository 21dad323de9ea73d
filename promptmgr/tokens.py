"""Session tokens, link tokens and CSRF tokens (hosted mode).

- Access tokens: JWT, HS256, short-lived. Decoding pins the algorithm (`algorithms=["HS256"]`):
  a token's own header (alg: none, RS256 with a public key as HMAC secret...) is never trusted.
- Refresh and link tokens: random, given to the browser once, stored as their SHA-256 only.
- CSRF: a random nonce with an HMAC binding it to the session (family id) or, before login, to a
  pre-session cookie value; the web layer puts it in a form field or header and checks it on every
  state-changing request made with the cookie.

The signing keys derive from PROMPTMGR_SECRET_KEY with distinct labels, so a CSRF token can never
pass as a JWT signature or the reverse."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta, timezone

from .errors import AuthenticationError

ALGORITHM = "HS256"


def derive(secret_key: str, label: str) -> bytes:
    return hmac.new(secret_key.encode("utf-8"), f"promptmgr/{label}".encode(), hashlib.sha256).digest()


def random_token() -> str:
    """256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What is stored of a refresh or link token: its SHA-256 (the token itself has 256 bits of
    entropy, so a slow hash would add nothing)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class AccessTokens:
    def __init__(self, secret_key: str, minutes: int = 15):
        self._key = derive(secret_key, "jwt").hex()
        self.lifetime = timedelta(minutes=minutes)

    def issue(self, claims: dict, now: datetime | None = None) -> tuple[str, datetime]:
        from jose import jwt

        now = now or datetime.now(timezone.utc)
        expires = now + self.lifetime
        payload = {**claims, "iat": int(now.timestamp()), "exp": int(expires.timestamp()), "typ": "access"}
        return jwt.encode(payload, self._key, algorithm=ALGORITHM), expires

    def decode(self, token: str) -> dict:
        """The claims of a valid, unexpired access token. Raises AuthenticationError."""
        from jose import JWTError, jwt

        if not token or len(token) > 4096:
            raise AuthenticationError("auth.session_invalid")
        try:
            claims = jwt.decode(token, self._key, algorithms=[ALGORITHM],
                                options={"require_exp": True, "require_iat": True})
        except JWTError:
            raise AuthenticationError("auth.session_invalid") from None
        if claims.get("typ") != "access":
            raise AuthenticationError("auth.session_invalid")
        return claims


class CsrfTokens:
    def __init__(self, secret_key: str):
        self._key = derive(secret_key, "csrf")

    def issue(self, binding: str) -> str:
        nonce = secrets.token_urlsafe(16)
        return f"{nonce}.{self._mac(nonce, binding)}"

    def check(self, token: str | None, binding: str | None) -> bool:
        if not token or not binding or token.count(".") != 1 or len(token) > 200:
            return False
        nonce, mac = token.split(".")
        return hmac.compare_digest(mac, self._mac(nonce, binding))

    def _mac(self, nonce: str, binding: str) -> str:
        return hmac.new(self._key, f"{nonce}|{binding}".encode("utf-8"), hashlib.sha256).hexdigest()
