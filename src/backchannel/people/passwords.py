"""Password hashing with Argon2id (argon2-cffi's recommended parameters).

Hashing and verifying take tens of milliseconds of CPU on purpose; async callers run
them in a thread (``asyncio.to_thread``) so the event loop keeps serving.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["hash_password", "needs_rehash", "verify_password"]

_hasher = PasswordHasher()


def _encode(password: str) -> bytes:
    # "surrogatepass": a lone surrogate can arrive through JSON ("\\ud800"); hash it
    # like any other character rather than failing with an encoding error.
    return password.encode("utf-8", "surrogatepass")


def hash_password(password: str) -> str:
    """An encoded Argon2id hash of ``password`` with its own random salt."""
    return _hasher.hash(_encode(password))


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``; False for a malformed hash too.

    The comparison inside argon2 is constant-time.
    """
    try:
        return _hasher.verify(password_hash, _encode(password))
    except (VerificationError, InvalidHashError):
        # VerifyMismatchError is a VerificationError; InvalidHash covers garbage and
        # hashes of another algorithm.
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's (or is unreadable)."""
    try:
        return _hasher.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return True
