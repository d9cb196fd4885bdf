"""A VC member's server end to end: spawn, Lab, server_ext → service, a kernel's client."""

import pytest
import requests

from tests.harness import execute_in_kernel

pytestmark = pytest.mark.slow

PASSWORD = "Secret-pass-42"


@pytest.fixture(scope="module")
def dora(platform, admin_token):
    """A signed-up user whom the admin added to `default`, with a running server."""
    platform.signup("dora", "Dora 朵拉", PASSWORD)
    r = platform.api("POST", "vcs/default/members", admin_token, json={"user": "dora"})
    assert r.status_code == 201
    token = platform.token("dora", PASSWORD)
    r = platform.hub_api("POST", "users/dora/server", token)
    assert r.status_code in (201, 202), r.text
    platform.wait_for_server("dora", token)
    yield token
    platform.hub_api("DELETE", "users/dora/server", token)


def test_lab_is_served_with_the_ytung_extension(platform, dora):
    lab = requests.get(
        f"{platform.url}/user/dora/lab", headers={"Authorization": f"token {dora}"}, timeout=30
    )
    assert lab.status_code == 200
    exts = requests.get(
        f"{platform.url}/user/dora/lab/api/extensions",
        headers={"Authorization": f"token {dora}"},
        timeout=30,
    ).json()
    assert any(e["name"] == "ytung" and e["enabled"] for e in exts)


def test_round_trip_lab_server_ext_service(platform, dora):
    r = requests.get(
        f"{platform.url}/user/dora/ytung/api/me",
        headers={"Authorization": f"token {dora}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    me = r.json()
    assert me["name"] == "dora" and me["nickname"] == "Dora 朵拉"
    assert [vc["name"] for vc in me["vcs"]] == ["default"]
    assert [role["name"] for role in me["roles"]] == ["User"]


def test_server_ext_refuses_other_users(platform, dora, admin_token):
    # another user's token does not open dora's server (the hub's access scopes)
    platform.signup("eric", "Eric", PASSWORD)
    eric = platform.token("eric", PASSWORD)
    r = requests.get(
        f"{platform.url}/user/dora/ytung/api/me",
        headers={"Authorization": f"token {eric}"},
        timeout=30,
        allow_redirects=False,
    )
    assert r.status_code in (403, 302)


async def test_kernel_uses_the_platform_client(platform, dora):
    code = (
        "import os\n"
        "from ytung_service.client import PlatformClient\n"
        "me = PlatformClient().me()\n"
        "print(me['name'], [vc['name'] for vc in me['vcs']], os.getcwd())\n"
        "from ytung_widgets import Overview\n"
        "print(repr(Overview()))\n"
    )
    out = await execute_in_kernel(f"{platform.url}/user/dora/", dora, code)
    assert "dora ['default']" in out
    assert str(platform.data_dir / "home" / "dora") in out
    assert "<Overview user='dora'" in out
