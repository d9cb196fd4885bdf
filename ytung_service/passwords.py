"""Password hashing (bcrypt) and the rules for usernames and passwords.

Validation functions return ``None`` when the input is fine, else an English message id that
the caller translates (see :mod:`ytung_service.i18n`).
"""

from __future__ import annotations

import re
import secrets
import string

import bcrypt

from .i18n import N_

USERNAME_RE = re.compile(r"^[a-z][a-z0-9_-]{1,31}$")
NICKNAME_MAX = 64
PASSWORD_MIN = 8
PASSWORD_MAX = 128
#: names that would shadow system accounts or hub paths
RESERVED_USERNAMES = frozenset({"root", "hub", "user", "users", "services", "api", "jupyter"})


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode("utf8"), bcrypt.gensalt()).decode("ascii")


def verify_password(password: str, hashed: str | None) -> bool:
    if not hashed or not password:
        return False
    try:
        return bcrypt.checkpw(password.encode("utf8"), hashed.encode("ascii"))
    except ValueError:
        return False


def username_problem(name: str) -> str | None:
    if not name:
        return N_("Username is required")
    if not USERNAME_RE.match(name):
        return N_(
            "Username must be 2-32 characters: lowercase letters, digits, '-' or '_', "
            "starting with a letter"
        )
    if name in RESERVED_USERNAMES:
        return N_("This username is reserved")
    return None


def nickname_problem(nickname: str) -> str | None:
    if not nickname.strip():
        return N_("Nickname is required")
    if len(nickname) > NICKNAME_MAX:
        return N_("Nickname is too long (at most 64 characters)")
    return None


def password_problem(password: str, username: str = "") -> str | None:
    if len(password) < PASSWORD_MIN:
        return N_("Password must be at least 8 characters")
    if len(password) > PASSWORD_MAX:
        return N_("Password is too long (at most 128 characters)")
    has_letter = any(c.isalpha() for c in password)
    has_digit = any(c.isdigit() for c in password)
    if not (has_letter and has_digit):
        return N_("Password must contain both letters and digits")
    if username and username.lower() in password.lower():
        return N_("Password must not contain the username")
    return None


def generate_password(length: int = 16) -> str:
    """A strong random password with letters, digits and symbols."""
    alphabet = string.ascii_letters + string.digits + "!@#%^*-_"
    while True:
        pw = "".join(secrets.choice(alphabet) for _ in range(length))
        if password_problem(pw) is None and any(c in "!@#%^*-_" for c in pw):
            return pw
