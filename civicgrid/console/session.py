"""Console sign-in: argon2id password hashes, signed session cookies and CSRF tokens.

A session is `operator_id|expiry|mac`, the MAC an HMAC-SHA256 under a key derived from the
pseudonym key; the cookie is HttpOnly and SameSite=Strict (Secure behind TLS). A form's CSRF
token is an HMAC of the session it belongs to, so a token is worthless without the cookie
and a cookie without the page's token."""

import hashlib
import hmac
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

COOKIE = "civicgrid_session"
SESSION_SECONDS = 8 * 3600  # one duty shift
_PASSWORDS = PasswordHasher()
# checked against when the name is unknown, so a wrong name costs the time a wrong password does
_DUMMY_HASH = _PASSWORDS.hash("no such operator")


def hash_password(password: str) -> str:
    if len(password) < 8:
        raise ValueError("a console password needs at least 8 characters")
    return _PASSWORDS.hash(password)


def password_matches(stored_hash: str | None, password: str) -> bool:
    try:
        return _PASSWORDS.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Sessions:
    key: bytes

    @classmethod
    def from_secret(cls, secret: bytes) -> "Sessions":
        return cls(hashlib.sha256(b"civicgrid-console-session:" + secret).digest())

    def _mac(self, text: str) -> str:
        return hmac.new(self.key, text.encode(), hashlib.sha256).hexdigest()

    def issue(self, operator_id: str, now: float | None = None) -> str:
        expiry = int((now or time.time()) + SESSION_SECONDS)
        body = f"{operator_id}|{expiry}"
        return f"{body}|{self._mac(body)}"

    def operator(self, cookie: str | None, now: float | None = None) -> str | None:
        """The signed-in operator, or None for a missing, forged or expired cookie."""
        if not cookie or cookie.count("|") != 2:
            return None
        operator_id, expiry, mac = cookie.split("|")
        if not hmac.compare_digest(mac, self._mac(f"{operator_id}|{expiry}")):
            return None
        if not expiry.isdigit() or int(expiry) < (now or time.time()):
            return None
        return operator_id

    def csrf(self, cookie: str) -> str:
        return self._mac(f"csrf|{cookie}")

    def csrf_valid(self, cookie: str | None, token: str) -> bool:
        return cookie is not None and hmac.compare_digest(token, self.csrf(cookie))
