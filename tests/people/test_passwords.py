from __future__ import annotations

from argon2 import PasswordHasher

from backchannel.people.passwords import hash_password, needs_rehash, verify_password


def test_a_hash_verifies_its_password_only() -> None:
    stored = hash_password("correct horse")

    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse")
    assert not verify_password(stored, "correct horsE")
    assert not verify_password(stored, "")


def test_each_hash_has_its_own_salt() -> None:
    assert hash_password("same") != hash_password("same")


def test_malformed_hashes_do_not_verify() -> None:
    for stored in ["", "plain", "$argon2id$v=19$m=65536", "$2b$12$abcdefghijklmnopqrstuv"]:
        assert not verify_password(stored, "plain")


def test_unusual_characters_hash_and_verify() -> None:
    for password in ["pässwörd 🔑", "\x00nul", "\ud800 lone surrogate", "x" * 5000]:
        assert verify_password(hash_password(password), password)


def test_fresh_hashes_need_no_rehash_but_weak_and_broken_ones_do() -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("pw")

    assert not needs_rehash(hash_password("pw"))
    assert needs_rehash(weak)
    assert verify_password(weak, "pw")
    assert needs_rehash("not a hash")
