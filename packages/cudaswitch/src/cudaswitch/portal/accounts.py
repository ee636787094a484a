"""Users, log-in sessions and script tokens.

Passwords are hashed with Argon2id (argon2-cffi's defaults, RFC 9106's second choice), so a
stolen database yields no password cheaply. Session cookies and script tokens are random
256-bit strings; only their SHA-256 is stored, so the database alone cannot log anyone in.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..errors import UsageError
from .models import ROLES, ApiToken, LoginSession, User

USER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MIN_PASSWORD = 10
_hasher = PasswordHasher()
# Verified against when the user does not exist, so that a wrong name costs what a wrong
# password costs and timing tells nobody which names exist.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


@dataclass(frozen=True)
class Principal:
    """Who is asking: a user, and how they proved it (a session carries its CSRF token)."""

    user_id: int
    name: str
    role: str
    csrf: str | None = None  # None for a script token: no cookie, so no CSRF to guard against

    def can(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_user_name(name: str) -> str:
    if not USER_RE.match(name or ""):
        raise UsageError(f"user name {name!r}: use 1-64 letters, digits, '.', '_' or '-', "
                         "starting with a letter or digit")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UsageError(f"role {role!r}: choose one of {', '.join(ROLES)}")
    return role


def create_user(s: Session, name: str, password: str, role: str) -> User:
    check_user_name(name)
    check_role(role)
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"password for {name}: at least {MIN_PASSWORD} characters")
    if s.scalar(select(User).where(User.name == name)) is not None:
        raise UsageError(f"user {name!r} exists already")
    user = User(name=name, password_hash=_hasher.hash(password), role=role, disabled=False,
                created_at=time.time())
    s.add(user)
    s.flush()
    return user


def set_password(s: Session, name: str, password: str) -> None:
    user = s.scalar(select(User).where(User.name == name))
    if user is None:
        raise UsageError(f"no user {name!r}")
    if len(password) < MIN_PASSWORD:
        raise UsageError(f"password for {name}: at least {MIN_PASSWORD} characters")
    user.password_hash = _hasher.hash(password)
    s.execute(delete(LoginSession).where(LoginSession.user_id == user.id))


def authenticate(s: Session, name: str, password: str) -> User | None:
    user = s.scalar(select(User).where(User.name == name))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or user.disabled:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def open_session(s: Session, user: User, hours: float) -> tuple[str, str]:
    """A new log-in: (cookie value, CSRF token)."""
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = time.time()
    s.add(LoginSession(token_hash=digest(token), user_id=user.id, csrf=csrf, created_at=now,
                       expires_at=now + hours * 3600))
    s.execute(delete(LoginSession).where(LoginSession.expires_at < now))
    return token, csrf


def close_session(s: Session, token: str) -> None:
    s.execute(delete(LoginSession).where(LoginSession.token_hash == digest(token)))


def session_principal(s: Session, token: str) -> Principal | None:
    row = s.execute(
        select(LoginSession, User).join(User, User.id == LoginSession.user_id)
        .where(LoginSession.token_hash == digest(token))).first()
    if row is None:
        return None
    sess, user = row
    if sess.expires_at < time.time() or user.disabled:
        return None
    return Principal(user.id, user.name, user.role, sess.csrf)


def csrf_ok(principal: Principal, given: str | None) -> bool:
    if principal.csrf is None:
        return True
    return bool(given) and hmac.compare_digest(principal.csrf, given or "")


def new_token(s: Session, user_id: int, name: str) -> str:
    """A script token, shown once; only its digest is kept."""
    if not USER_RE.match(name or ""):
        raise UsageError(f"token name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
    token = "csp_" + secrets.token_urlsafe(32)
    s.add(ApiToken(user_id=user_id, name=name, token_hash=digest(token), created_at=time.time(),
                   revoked=False))
    return token


def token_principal(s: Session, token: str) -> Principal | None:
    row = s.execute(select(ApiToken, User).join(User, User.id == ApiToken.user_id)
                    .where(ApiToken.token_hash == digest(token))).first()
    if row is None:
        return None
    tok, user = row
    if tok.revoked or user.disabled:
        return None
    tok.last_used_at = time.time()
    return Principal(user.id, user.name, user.role, None)


def revoke_token(s: Session, user_id: int, token_id: int) -> bool:
    tok = s.get(ApiToken, token_id)
    if tok is None or tok.user_id != user_id:
        return False
    tok.revoked = True
    return True
