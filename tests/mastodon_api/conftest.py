from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Cheap Argon2 here: these tests sign in often and test the API, not the hash."""
    from argon2 import PasswordHasher

    from backchannel.people import passwords

    monkeypatch.setattr(
        passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )
