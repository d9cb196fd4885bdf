"""Accounts end to end on the real platform: sign-up, login, no-access, admin (SPEC A1, A2)."""

import pytest

from tests.harness import ADMIN_PASSWORD

pytestmark = pytest.mark.slow

PASSWORD = "Secret-pass-42"


def _users(platform, admin_token):
    return {u["name"] for u in platform.api("GET", "users", admin_token).json()}


@pytest.mark.parametrize(
    "username, nickname, password, confirm, status, message",
    [
        ("admin", "Imposter", PASSWORD, None, 409, "already taken"),
        ("Bad Name!", "Bad", PASSWORD, None, 400, "lowercase letters"),
        ("x", "Short", PASSWORD, None, 400, "2-32 characters"),
        ("weakling", "Weak", "short1", None, 400, "at least 8 characters"),
        ("lettersonly", "Weak", "onlyletters", None, 400, "letters and digits"),
        ("mismatch", "Mis", PASSWORD, PASSWORD + "x", 400, "do not match"),
        ("nonick", "  ", PASSWORD, None, 400, "Nickname is required"),
        ("root", "Root", PASSWORD, None, 400, "reserved"),
    ],
)
def test_signup_refusals_create_nothing(
    platform, admin_token, username, nickname, password, confirm, status, message
):
    before = _users(platform, admin_token)
    r = platform.signup(username, nickname, password, confirm)
    assert r.status_code == status
    assert message in r.text
    assert _users(platform, admin_token) == before
    if username != "admin":
        with pytest.raises(AssertionError):
            platform.login(username, password)


def test_signup_in_chinese_shows_chinese_errors(platform):
    s = platform.browser_session()
    s.cookies.set("ytung-lang", "zh_CN")
    r = s.post(
        platform.url + "/hub/signup",
        data={
            "username": "weak2",
            "nickname": "弱",
            "password": "abc",
            "password_confirm": "abc",
            "_xsrf": platform.xsrf(s, "/hub/signup"),
        },
    )
    assert r.status_code == 400
    assert "密码至少需要 8 个字符" in r.text
    assert "注册" in r.text


def test_wrong_password_is_refused(platform):
    s = platform.browser_session()
    r = s.post(
        platform.url + "/hub/login",
        data={"username": "admin", "password": "wrong-pass-1", "_xsrf": platform.xsrf(s)},
        allow_redirects=False,
    )
    assert r.status_code == 403
    assert "Invalid username or password" in r.text


def test_new_user_has_no_access_until_added_to_a_vc(platform, admin_token):
    r = platform.signup("alice", "Alice", PASSWORD)
    assert r.status_code == 302 and "signed_up=1" in r.headers["Location"]
    login_page = platform.browser_session().get(platform.url + "/hub/login?signed_up=1")
    assert "Your account was created" in login_page.text

    session = platform.login("alice", PASSWORD)
    # the platform's front door (the hub's default_url) says why, in the user's language
    page = session.get(platform.url + "/services/ytung/")
    assert page.status_code == 403
    assert "ask an administrator to add you to a virtual cluster" in page.text
    page = session.get(platform.url + "/services/ytung/?lang=zh_CN")
    assert "您没有当前页面的访问权限" in page.text
    # the spawn page shows the notice instead of a form
    spawn = session.get(platform.url + "/hub/spawn", params={"lang": "en"})
    assert 'id="ytung-no-access"' in spawn.text
    # and starting a server is refused, whatever the route
    token = platform.token("alice", PASSWORD)
    r = platform.hub_api("POST", "users/alice/server", token)
    assert r.status_code >= 400
    model = platform.hub_api("GET", "users/alice", token).json()
    assert not model["servers"]
    assert platform.api("GET", "users/alice/access", token).json()["allowed"] is False

    # the admin adds alice to `default` through the admin page form
    admin = platform.login("admin", ADMIN_PASSWORD)
    admin_page = admin.get(platform.url + "/services/ytung/admin/")
    assert admin_page.status_code == 200
    xsrf = platform.xsrf(admin, "/services/ytung/admin/")
    r = admin.post(
        platform.url + "/services/ytung/admin/vcs/default/members",
        data={"user": "alice", "_xsrf": xsrf},
    )
    assert r.status_code == 200 and "Added alice to default" in r.text
    me = platform.api("GET", "me", token).json()
    assert [vc["name"] for vc in me["vcs"]] == ["default"]
    assert platform.api("GET", "users/alice/access", token).json()["allowed"] is True
    # now the front door sends alice on to her server
    r = session.get(platform.url + "/services/ytung/", allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].endswith("/hub/spawn")

    # removal through the API takes access away again
    r = platform.api("DELETE", "vcs/default/members/alice", admin_token)
    assert r.status_code == 204
    assert platform.api("GET", "users/alice/access", token).json()["allowed"] is False


def test_admin_pages_and_apis_refuse_non_admins(platform, admin_token):
    platform.signup("bob", "Bob", PASSWORD)
    bob = platform.login("bob", PASSWORD)
    page = bob.get(platform.url + "/services/ytung/admin/")
    assert page.status_code == 403
    assert "platform:admin" in page.text
    token = platform.token("bob", PASSWORD)
    assert platform.api("GET", "users", token).status_code == 403
    r = platform.api("POST", "vcs/default/members", token, json={"user": "bob"})
    assert r.status_code == 403
    # bob is not a member, so `default` does not even exist for him
    assert platform.api("GET", "vcs/default/members", token).status_code == 404
    assert platform.api("GET", "users/admin", token).status_code == 403
    # the hub's nav bar links the platform admin only for admins
    assert "ytung-admin-link" not in bob.get(platform.url + "/hub/home").text
    admin = platform.login("admin", ADMIN_PASSWORD)
    assert "ytung-admin-link" in admin.get(platform.url + "/hub/home").text


def test_api_authentication_errors(platform, admin_token):
    r = platform.api("GET", "me")
    assert r.status_code == 401
    assert r.json()["message"].startswith("Authentication required")
    assert platform.api("GET", "me", "not-a-real-token").status_code == 401
    # a token of admin restricted to reading user names may not use the service
    narrow = platform.token("admin", ADMIN_PASSWORD, scopes=["read:users:name"])
    r = platform.api("GET", "me", narrow)
    assert r.status_code == 403
    assert "may not use the Ytung service" in r.json()["message"]
    # an expired token
    import time

    expiring = platform.token("admin", ADMIN_PASSWORD, expires_in=1)
    time.sleep(2.5)
    assert platform.api("GET", "me", expiring).status_code == 401


def test_api_bad_input(platform, admin_token):
    r = platform.api("POST", "vcs/default/members", admin_token, data="{not json")
    assert r.status_code == 400 and "not valid JSON" in r.json()["message"]
    r = platform.api("POST", "vcs/default/members", admin_token, json={"user": "nobody"})
    assert r.status_code == 404 and "No such user: nobody" in r.json()["message"]
    r = platform.api("POST", "vcs/nope/members", admin_token, json={"user": "admin"})
    assert r.status_code == 404
    r = platform.api("POST", "vcs/default/members", admin_token, json={"user": "admin"})
    assert r.status_code == 409
    r = platform.api("PUT", "users/admin/roles", admin_token, json={"roles": "User"})
    assert r.status_code == 400


def test_preset_admin_cannot_be_deleted_or_demoted(platform, admin_token):
    r = platform.api("DELETE", "users/admin", admin_token)
    assert r.status_code == 409
    r = platform.api("PUT", "users/admin/roles", admin_token, json={"roles": ["User"]})
    assert r.status_code == 409
    me = platform.api("GET", "me", admin_token).json()
    assert [r["name"] for r in me["roles"]] == ["System Admin"]
    assert me["admin"] is True


def test_change_password(platform):
    platform.signup("carol", "Carol", PASSWORD)
    s = platform.login("carol", PASSWORD)
    xsrf = platform.xsrf(s, "/hub/change-password")
    r = s.post(
        platform.url + "/hub/change-password",
        data={
            "current_password": "wrong-1234",
            "new_password": "New-pass-99",
            "new_password_confirm": "New-pass-99",
            "_xsrf": xsrf,
        },
    )
    assert r.status_code == 400 and "current password is wrong" in r.text
    r = s.post(
        platform.url + "/hub/change-password",
        data={
            "current_password": PASSWORD,
            "new_password": "New-pass-99",
            "new_password_confirm": "New-pass-99",
            "_xsrf": xsrf,
        },
    )
    assert r.status_code == 200 and "Your password was changed" in r.text
    platform.login("carol", "New-pass-99")
    with pytest.raises(AssertionError):
        platform.login("carol", PASSWORD)


def test_a_vc_can_admit_a_hub_group(platform, admin_token):
    """V2: members of an admitted JupyterHub group may use the VC."""
    platform.signup("gus", "Gus", PASSWORD)
    token = platform.token("gus", PASSWORD)
    assert platform.api("GET", "users/gus/access", token).json()["allowed"] is False
    r = platform.api("POST", "vcs/default/members", admin_token, json={"group": "nope"})
    assert r.status_code == 404 and "nope" in r.json()["message"]
    assert platform.hub_api("POST", "groups/lab-a", admin_token).status_code == 201
    r = platform.hub_api("POST", "groups/lab-a/users", admin_token, json={"users": ["gus"]})
    assert r.status_code == 200
    r = platform.api("POST", "vcs/default/members", admin_token, json={"group": "lab-a"})
    assert r.status_code == 201
    r = platform.api("POST", "vcs/default/members", admin_token, json={"group": "lab-a"})
    assert r.status_code == 409
    members = platform.api("GET", "vcs/default/members", admin_token).json()
    assert {"kind": "group", "group": "lab-a"} in [
        {k: m[k] for k in ("kind", "group")} for m in members if m["kind"] == "group"
    ]
    access = platform.api("GET", "users/gus/access", token).json()
    assert access["allowed"] is True and access["vcs"] == ["default"]
    assert [vc["name"] for vc in platform.api("GET", "me", token).json()["vcs"]] == ["default"]
    # the admin page lists the group and can take it away again
    admin = platform.login("admin", ADMIN_PASSWORD)
    page = admin.get(platform.url + "/services/ytung/admin/vcs/default/members")
    assert 'data-group="lab-a"' in page.text
    r = admin.post(
        platform.url + "/services/ytung/admin/vcs/default/groups/lab-a/remove",
        data={"_xsrf": platform.xsrf(admin, "/services/ytung/admin/vcs/default/members")},
    )
    assert r.status_code == 200 and 'data-group="lab-a"' not in r.text
    assert platform.api("GET", "users/gus/access", token).json()["allowed"] is False
    assert platform.api("DELETE", "vcs/default/groups/lab-a", admin_token).status_code == 404
