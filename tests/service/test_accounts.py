"""The accounts domain: sign-up rules, roles, VC membership, the preset admin."""

import pytest

from ytung_service import accounts, orm
from ytung_service.errors import DomainError
from ytung_service.passwords import (
    generate_password,
    hash_password,
    password_problem,
    username_problem,
    verify_password,
)


def test_hash_and_verify():
    h = hash_password("Correct-horse-9")
    assert h.startswith("$2") and "Correct" not in h
    assert verify_password("Correct-horse-9", h)
    assert not verify_password("wrong", h)
    assert not verify_password("x", None)
    assert not verify_password("x", "not-a-bcrypt-hash")


@pytest.mark.parametrize("name", ["al", "alice", "a-b_c9", "z" * 32])
def test_good_usernames(name):
    assert username_problem(name) is None


@pytest.mark.parametrize(
    "name", ["", "a", "Alice", "1abc", "al ice", "a/b", "../x", "z" * 33, "root"]
)
def test_bad_usernames(name):
    assert username_problem(name)


@pytest.mark.parametrize(
    "password, problem",
    [
        ("short1", "at least 8"),
        ("lettersonly", "letters and digits"),
        ("123456789", "letters and digits"),
        ("alice-pass-1", "username"),
        ("x1" * 65, "too long"),
    ],
)
def test_password_rules(password, problem):
    assert problem in password_problem(password, "alice")


def test_generated_passwords_pass_the_rules():
    assert all(password_problem(generate_password()) is None for _ in range(50))


def test_create_account(db):
    user = accounts.create_account(db, "alice", " Alice ", "Secret-pass-1")
    assert user.nickname == "Alice"
    assert [r.name for r in user.roles] == ["User"]
    assert accounts.access_model(user)["allowed"] is False
    with pytest.raises(DomainError) as e:
        accounts.create_account(db, "alice", "Again", "Secret-pass-1")
    assert e.value.status == 409


def test_membership(db):
    user = accounts.create_account(db, "bob", "Bob", "Secret-pass-1")
    vc = accounts.get_vc(db, "default")
    accounts.add_member(db, vc, "bob")
    assert accounts.access_model(user) == {
        "name": "bob",
        "allowed": True,
        "vcs": ["default"],
        "current_vc": "default",
        "reason": None,
    }
    with pytest.raises(DomainError) as e:
        accounts.add_member(db, vc, "bob")
    assert e.value.status == 409
    accounts.remove_member(db, vc, "bob")
    with pytest.raises(DomainError) as e:
        accounts.remove_member(db, vc, "bob")
    assert e.value.status == 404
    with pytest.raises(DomainError) as e:
        accounts.add_member(db, vc, "nobody")
    assert e.value.status == 404


def test_preset_admin_is_protected(db):
    with pytest.raises(DomainError) as e:
        accounts.delete_user(db, "admin")
    assert e.value.status == 409
    with pytest.raises(DomainError):
        accounts.set_roles(db, "admin", ["User"])
    assert orm.User.find(db, "admin") is not None


def test_roles(db):
    accounts.create_account(db, "carol", "Carol", "Secret-pass-1")
    user = accounts.set_roles(db, "carol", ["Annotation person"])
    assert accounts.permissions_of(user) == {"annotation:use"}
    with pytest.raises(DomainError):
        accounts.set_roles(db, "carol", ["No such role"])
    with pytest.raises(DomainError):
        accounts.set_roles(db, "carol", [])


def test_hub_users_get_a_platform_account_on_first_sight(db):
    user = accounts.ensure_user(db, "dave")
    assert [r.name for r in user.roles] == ["User"] and user.password_hash is None
    admin = accounts.ensure_user(db, "eve", admin=True)
    assert "platform:admin" in accounts.permissions_of(admin)
    assert accounts.ensure_user(db, "dave") is user


def test_change_password(db):
    user = accounts.create_account(db, "frank", "Frank", "Secret-pass-1")
    with pytest.raises(DomainError, match="current password is wrong"):
        accounts.change_password(db, user, "nope", "Other-pass-2")
    with pytest.raises(DomainError, match="at least 8"):
        accounts.change_password(db, user, "Secret-pass-1", "x1")
    accounts.change_password(db, user, "Secret-pass-1", "Other-pass-2")
    assert verify_password("Other-pass-2", user.password_hash)
