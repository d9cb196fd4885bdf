"""The admin area's VC pages on the real platform with simulated devices (SPEC V1, V2, A6).

Forms are posted as a browser would (session cookie + ``_xsrf``), and the results are checked
through the REST API, so the pages and the API are seen to share one domain.

The NPU node has one broken NPU (7): an 8-NPU request fits the cluster's shape but cannot
start, so it stays queued: a live workload without starting a server.
"""

from __future__ import annotations

import time

import pytest
from bs4 import BeautifulSoup, Tag

from tests.harness import ADMIN_PASSWORD, RunningPlatform
from ytung_service.i18n import translator

pytestmark = pytest.mark.slow

PASSWORD = "Secret-pass-42"
GPU, NPU = "nvidia_gpu_amd64", "huawei_npu_arm64"
DEVICES = f"gpu-node-1:{GPU}=8;npu-node-1:{NPU}=8!7"
ADMIN = "/services/ytung/admin"


class Element:
    """A BeautifulSoup tag with the lookups these assertions use: ``data_vc="x"`` matches
    ``data-vc="x"``, ``find`` insists on a match, ``text`` has its white space folded."""

    def __init__(self, tag: Tag):
        self.tag = tag

    @property
    def attrs(self) -> dict:
        return self.tag.attrs

    @property
    def text(self) -> str:
        return " ".join(self.tag.get_text().split())

    def find_all(self, tag_name: str | None = None, /, **attrs: str) -> list[Element]:
        wanted = {k.replace("_", "-"): v for k, v in attrs.items()}
        return [Element(t) for t in self.tag.find_all(tag_name, attrs=wanted)]

    def find(self, tag_name: str | None = None, /, **attrs: str) -> Element:
        found = self.find_all(tag_name, **attrs)
        assert found, f"no <{tag_name or '*'} {attrs}>"
        return found[0]


def parse(html: str) -> Element:
    return Element(BeautifulSoup(html, "html.parser"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A platform whose local runtime has 8 simulated GPUs and 8 NPUs (one broken)."""
    with RunningPlatform.running(
        tmp_path_factory.mktemp("admin-pages"), YTUNG_SIMULATED_DEVICES=DEVICES
    ) as p:
        yield p


@pytest.fixture(scope="module")
def admin_token(cluster):
    return cluster.token("admin", ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def admin(cluster):
    """The admin's browser session, already through the service's OAuth."""
    s = cluster.login("admin", ADMIN_PASSWORD)
    assert s.get(cluster.url + ADMIN + "/").status_code == 200
    return s


@pytest.fixture(scope="module")
def members(cluster):
    """Sign-ups the tests add to VCs: name → hub token."""
    tokens = {}
    for name in ("mia", "nina", "olga"):
        assert cluster.signup(name, name.title(), PASSWORD).status_code == 302
        tokens[name] = cluster.token(name, PASSWORD)
    return tokens


def xsrf(cluster, session) -> str:
    """The service's xsrf token (set at its OAuth login, for the service's path)."""
    token = session.cookies.get("_xsrf", path="/services/ytung/")
    assert token, "no service xsrf cookie"
    return token


def post(cluster, session, path: str, **data):
    return session.post(
        cluster.url + ADMIN + path, data={**data, "_xsrf": xsrf(cluster, session)}, timeout=30
    )


def vc_form(name="", description="", max_hours="", **devices) -> dict[str, str]:
    """Form fields: ``quota_<type>`` / ``user_max_<type>`` passed as ``quota_gpu`` etc."""
    short = {"gpu": GPU, "npu": NPU}
    data = {"name": name, "description": description, "max_hours": max_hours}
    data.update({f"quota_{t}": "0" for t in (GPU, NPU)})
    data.update({f"user_max_{t}": "" for t in (GPU, NPU)})
    for key, value in devices.items():
        field, kind = key.rsplit("_", 1)
        data[f"{field}_{short[kind]}"] = str(value)
    return data


def vc_names(cluster, token) -> set[str]:
    return {vc["name"] for vc in cluster.api("GET", "vcs", token).json()}


def devices_table(html: str) -> dict[str, tuple[int, int]]:
    section = parse(html).find(id="ytung-devices")
    return {
        row.attrs["data-device-type"]: (
            int(row.find(data_field="capacity").text),
            int(row.find(data_field="unassigned").text),
        )
        for row in section.find_all("tr")
        if "data-device-type" in row.attrs
    }


def test_vc_list_shows_the_cluster(cluster, admin):
    r = admin.get(cluster.url + ADMIN + "/vcs")
    assert r.status_code == 200
    page = parse(r.text)
    tabs = page.find(id="ytung-admin-tabs")
    assert [a.attrs["data-tab"] for a in tabs.find_all("a")] == [
        "console",
        "vcs",
        "users",
        "workloads",
    ]
    assert "active" in tabs.find(data_tab="vcs").attrs["class"]
    assert devices_table(r.text) == {GPU: (8, 8), NPU: (8, 8)}
    default = page.find("tr", data_vc="default")
    assert default.find(data_field="max_hours").text == "--"
    assert default.find(data_device_type=GPU, data_field="quota").text == "0"
    assert default.find(data_device_type=GPU, data_field="user_max").text == "--"
    assert default.find(data_field="members").text == "1"
    assert default.find("form").attrs["data-confirm"].startswith("Delete virtual cluster default?")


def test_create_vc_through_the_form(cluster, admin, admin_token):
    form = parse(admin.get(cluster.url + ADMIN + "/vcs/new").text).find(id="ytung-vc-form")
    for t in (GPU, NPU):
        row = form.find(data_device_type=t)
        assert row.find(data_field="unassigned").text == "8 unassigned"
        assert row.find("input", name=f"quota_{t}").attrs["max"] == "8"
    r = post(
        cluster,
        admin,
        "/vcs/new",
        **vc_form("vision", "CV team", max_hours="24", quota_gpu=4, user_max_gpu=2),
    )
    assert r.status_code == 200 and "Created virtual cluster vision" in r.text
    assert r.url.endswith(ADMIN + "/vcs?msg=Created+virtual+cluster+vision")
    vision = parse(r.text).find("tr", data_vc="vision")
    assert vision.find(data_device_type=GPU, data_field="quota").text == "4"
    assert vision.find(data_device_type=GPU, data_field="user_max").text == "2"
    assert vision.find(data_field="max_hours").text == "24"
    assert devices_table(r.text) == {GPU: (8, 4), NPU: (8, 8)}
    model = cluster.api("GET", "vcs/vision", admin_token).json()
    assert model["quota"] == {GPU: 4}
    assert model["user_max"] == {GPU: 2}
    assert model["max_hours"] == 24
    assert model["description"] == "CV team"


@pytest.mark.parametrize(
    "fields, status, message",
    [
        ({"name": "Bad Name"}, 400, "lowercase letters"),
        ({"name": ""}, 400, "lowercase letters"),
        ({"quota_gpu": 99}, 400, "unassigned"),
        ({"quota_gpu": 1, "user_max_gpu": 2}, 400, "exceeds the VC's quota"),
        ({"quota_npu": -1}, 400, "out of range"),
        ({"quota_gpu": 1, "user_max_gpu": 0}, 400, "out of range"),
        ({"quota_gpu": "lots"}, 400, "Quota (nvidia_gpu_amd64) must be a whole number; got lots"),
        ({"quota_gpu": "1.5"}, 400, "whole number"),
        ({"user_max_npu": "x"}, 400, "Per-user max (huawei_npu_arm64) must be a whole number"),
        ({"max_hours": "soon"}, 400, "Max hours must be a number; got soon"),
        ({"max_hours": "-3"}, 400, "max_hours must be between 0"),
        ({"name": "default"}, 409, "already exists"),
    ],
)
def test_invalid_forms_rerender_and_create_nothing(
    cluster, admin, admin_token, fields, status, message
):
    before = vc_names(cluster, admin_token)
    data = vc_form("wrong", "kept description", **{k: v for k, v in fields.items() if k != "name"})
    data["name"] = fields.get("name", data["name"])
    r = post(cluster, admin, "/vcs/new", **data)
    assert r.status_code == status
    page = parse(r.text)
    assert message in page.find(id="ytung-admin-error").text
    # the form keeps what was typed
    form = page.find(id="ytung-vc-form")
    for key, value in data.items():
        if key != "_xsrf":
            assert form.find("input", name=key).attrs.get("value", "") == value
    assert vc_names(cluster, admin_token) == before


def test_errors_are_translated(cluster, admin):
    zh = translator("zh_CN")
    try:
        r = post(cluster, admin, "/vcs/new?lang=zh_CN", **vc_form("greedy", quota_npu=9))
    finally:
        # ?lang= is remembered in a cookie: back to English for the other tests
        admin.get(cluster.url + ADMIN + "/?lang=en")
    assert r.status_code == 400
    expected = zh(
        "The cluster has {free} unassigned {device_type}; a quota of {count} does not fit",
        free=8,
        device_type=NPU,
        count=9,
    )
    assert expected != "" and expected in r.text
    assert 'lang="zh-CN"' in r.text


def test_edit_vc(cluster, admin, admin_token):
    form = parse(admin.get(cluster.url + ADMIN + "/vcs/vision/edit").text).find(id="ytung-vc-form")
    assert form.find("input", name="name").attrs["value"] == "vision"
    assert "readonly" in form.find("input", name="name").attrs
    assert form.find("input", name=f"quota_{GPU}").attrs["value"] == "4"
    assert form.find("input", name=f"user_max_{GPU}").attrs["value"] == "2"
    assert form.find("input", name="max_hours").attrs["value"] == "24"
    # this VC's own 4 GPUs plus the 4 unassigned
    assert form.find("input", name=f"quota_{GPU}").attrs["max"] == "8"
    r = post(cluster, admin, "/vcs/vision/edit", **vc_form("ignored", "Vision", quota_gpu=6))
    assert r.status_code == 200 and "Saved virtual cluster vision" in r.text
    model = cluster.api("GET", "vcs/vision", admin_token).json()
    assert model["quota"] == {GPU: 6}
    assert model["user_max"] == {}
    assert model["max_hours"] is None
    assert model["description"] == "Vision"
    # an invalid edit changes nothing and keeps the typed values
    r = post(cluster, admin, "/vcs/vision/edit", **vc_form(quota_gpu=9))
    assert r.status_code == 400 and "unassigned" in r.text
    assert cluster.api("GET", "vcs/vision", admin_token).json()["quota"] == {GPU: 6}
    assert admin.get(cluster.url + ADMIN + "/vcs/nope/edit").status_code == 404


def test_busy_vc_cannot_shrink_or_go(cluster, admin, admin_token, members):
    r = cluster.api("POST", "vcs", admin_token, json={"name": "busy", "quota": {NPU: 8}})
    assert r.status_code == 201, r.text
    assert cluster.api("POST", "vcs/busy/members", admin_token, json={"user": "mia"}).ok
    w = cluster.api(
        "POST",
        "workloads",
        members["mia"],
        json={"vc": "busy", "device_type": NPU, "devices_per_node": 8},
    ).json()
    assert w["status"] == "queued", w
    r = admin.get(cluster.url + ADMIN + "/vcs")
    busy = parse(r.text).find("tr", data_vc="busy")
    assert busy.find(data_device_type=NPU, data_field="queued").text == "8"

    r = post(cluster, admin, "/vcs/busy/edit", **vc_form(quota_npu=4))
    assert r.status_code == 409
    page = parse(r.text)
    assert "cannot shrink while it has live workloads" in page.find(id="ytung-admin-error").text
    row = page.find(id="ytung-blocking").find("tr", data_workload=str(w["id"]))
    assert "mia" in row.text and row.find(data_status="queued").text == "Queued"
    assert page.find("input", name=f"quota_{NPU}").attrs["value"] == "4"
    assert cluster.api("GET", "vcs/busy", admin_token).json()["quota"] == {NPU: 8}
    # growing (a description, a longer time limit) is fine while busy
    r = post(cluster, admin, "/vcs/busy/edit", **vc_form(description="Busy", quota_npu=8))
    assert r.status_code == 200 and "Saved virtual cluster busy" in r.text

    r = post(cluster, admin, "/vcs/busy/delete")
    assert r.status_code == 409
    page = parse(r.text)
    assert "cannot be deleted while it has live workloads" in page.find(id="ytung-admin-error").text
    assert page.find(id="ytung-blocking").find("tr", data_workload=str(w["id"]))
    assert page.find("tr", data_vc="busy")
    assert "busy" in vc_names(cluster, admin_token)

    # once the workload is gone the VC can go too, and its devices are unassigned again
    assert cluster.api("DELETE", f"workloads/{w['id']}", members["mia"]).ok
    r = post(cluster, admin, "/vcs/busy/delete")
    assert r.status_code == 200 and "Deleted virtual cluster busy" in r.text
    assert not parse(r.text).find_all("tr", data_vc="busy")
    assert devices_table(r.text)[NPU] == (8, 8)
    assert "busy" not in vc_names(cluster, admin_token)
    assert post(cluster, admin, "/vcs/busy/delete").status_code == 404


def test_members_add_and_remove(cluster, admin, admin_token, members):
    r = admin.get(cluster.url + ADMIN + "/vcs/vision/members")
    assert r.status_code == 200
    page = parse(r.text)
    options = [o.attrs["value"] for o in page.find(id="ytung-add-member").find_all("option")]
    assert {"nina", "olga", "admin"} <= set(options)
    assert not page.find_all("tr", data_member="nina")

    r = post(cluster, admin, "/vcs/vision/members", user="nina")
    assert r.status_code == 200 and "Added nina to vision" in r.text
    assert r.url.split("?")[0].endswith(ADMIN + "/vcs/vision/members")
    page = parse(r.text)
    assert page.find("tr", data_member="nina")
    options = [o.attrs["value"] for o in page.find(id="ytung-add-member").find_all("option")]
    assert "nina" not in options
    users = [m["user"] for m in cluster.api("GET", "vcs/vision/members", admin_token).json()]
    assert users == ["nina"]

    r = post(cluster, admin, "/vcs/vision/members", user="nina")
    assert "nina is already a member of vision" in parse(r.text).find(id="ytung-admin-error").text
    r = post(cluster, admin, "/vcs/vision/members", user="nobody")
    assert "No such user: nobody" in r.text

    r = post(cluster, admin, "/vcs/vision/members/nina/remove")
    assert r.status_code == 200 and "Removed nina from vision" in r.text
    assert not parse(r.text).find_all("tr", data_member="nina")
    assert cluster.api("GET", "vcs/vision/members", admin_token).json() == []
    assert admin.get(cluster.url + ADMIN + "/vcs/nope/members").status_code == 404


def test_console_and_users(cluster, admin, admin_token, members):
    r = admin.get(cluster.url + ADMIN + "/")
    page = parse(r.text)
    assert "active" in page.find(data_tab="console").attrs["class"]
    assert page.find(id="ytung-console").find(data_count="vcs").text == str(
        len(vc_names(cluster, admin_token))
    )
    assert page.find(id="ytung-vcs").find("tr", data_vc="vision")
    waiting = int(page.find(data_count="waiting").text)
    # the console's shortcut adds a waiting user to a VC
    r = post(cluster, admin, "/members", user="olga", vc="vision")
    assert r.status_code == 200 and "Added olga to vision" in r.text
    assert parse(r.text).find("tr", data_member="olga")
    page = parse(admin.get(cluster.url + ADMIN + "/").text)
    assert int(page.find(data_count="waiting").text) == waiting - 1
    r = post(cluster, admin, "/members", user="olga", vc="nope")
    assert "No such virtual cluster: nope" in parse(r.text).find(id="ytung-admin-error").text

    r = admin.get(cluster.url + ADMIN + "/users")
    page = parse(r.text)
    assert "active" in page.find(data_tab="users").attrs["class"]
    assert "vision" in page.find("tr", data_user="olga").text


def test_non_admins_get_403_everywhere(cluster, admin_token, members):
    s = cluster.login("mia", PASSWORD)
    for path in ("/", "/users", "/vcs", "/vcs/new", "/vcs/vision/edit", "/vcs/vision/members"):
        r = s.get(cluster.url + ADMIN + path)
        assert r.status_code == 403, path
    before = cluster.api("GET", "vcs/vision", admin_token).json()
    for path, data in [
        ("/members", {"user": "mia", "vc": "vision"}),
        ("/vcs/new", vc_form("mine")),
        ("/vcs/vision/edit", vc_form(quota_gpu=0)),
        ("/vcs/vision/delete", {}),
        ("/vcs/vision/members", {"user": "mia"}),
        ("/vcs/vision/members/olga/remove", {}),
    ]:
        r = post(cluster, s, path, **data)
        assert r.status_code == 403, path
        assert "platform:admin" in r.text
    assert cluster.api("GET", "vcs/vision", admin_token).json() == before
    assert "mine" not in vc_names(cluster, admin_token)
    # no session at all: the login page, never the admin area
    import requests

    r = requests.get(cluster.url + ADMIN + "/vcs", allow_redirects=False, timeout=10)
    assert r.status_code == 302


def test_admin_workloads_tab_stops_and_extends(cluster, admin, admin_token):
    """W2 (in part) and V4 in the UI: every user's workloads, stop, more run time."""
    r = cluster.api(
        "POST", "vcs", admin_token, json={"name": "timed", "max_hours": 2, "description": "t"}
    )
    assert r.status_code == 201, r.text
    assert cluster.api("POST", "vcs/timed/members", admin_token, json={"user": "admin"}).ok
    w = cluster.api("POST", "workloads", admin_token, json={"vc": "timed", "name": "nb"}).json()
    page = admin.get(cluster.url + ADMIN + "/workloads")
    assert page.status_code == 200 and f'data-workload="{w["id"]}"' in page.text
    assert (
        admin.get(cluster.url + ADMIN + "/workloads", params={"q": "zzz"}).text.count(
            "data-workload="
        )
        == 0
    )
    xsrf = cluster.xsrf(admin, ADMIN + "/workloads")
    before = cluster.api("GET", f"workloads/{w['id']}", admin_token).json()["time_left"]
    r = admin.post(
        cluster.url + ADMIN + f"/workloads/{w['id']}/extend", data={"hours": "3", "_xsrf": xsrf}
    )
    assert r.status_code == 200 and "3 more hours" in r.text
    after = cluster.api("GET", f"workloads/{w['id']}", admin_token).json()["time_left"]
    assert after >= before + 3 * 3600 - 60
    r = admin.post(
        cluster.url + ADMIN + f"/workloads/{w['id']}/extend", data={"hours": "-1", "_xsrf": xsrf}
    )
    assert "between 0 and 8760" in r.text
    r = admin.post(cluster.url + ADMIN + f"/workloads/{w['id']}/stop", data={"_xsrf": xsrf})
    assert r.status_code == 200
    # closed at once, or after "stopping" once the hub says the server is gone (D7)
    for _ in range(120):
        status = cluster.api("GET", f"workloads/{w['id']}", admin_token).json()["status"]
        if status == "closed":
            break
        assert status == "stopping"
        time.sleep(0.5)
    assert status == "closed"


# -- approval (未批准): the VC setting, VC admins, the workloads tab's buttons, a hub spawn ----
@pytest.fixture(scope="module")
def reviewers(cluster, admin, admin_token):
    """VC ``review`` needs approval: ``pat`` a plain member, ``quinn`` its admin (made one on
    the members page); ``rita`` the admin of another VC (``other``)."""
    form = parse(admin.get(cluster.url + ADMIN + "/vcs/new").text).find(id="ytung-vc-form")
    assert "checked" not in form.find("input", name="approval_required").attrs
    r = post(
        cluster,
        admin,
        "/vcs/new",
        **vc_form("review", "needs approval", quota_gpu=1),
        approval_required="on",
    )
    assert r.status_code == 200 and "Created virtual cluster review" in r.text
    row = parse(r.text).find("tr", data_vc="review")
    assert row.find(data_field="approval_required").text == "Approval"
    assert cluster.api("GET", "vcs/review", admin_token).json()["approval_required"] is True
    form = parse(admin.get(cluster.url + ADMIN + "/vcs/review/edit").text)
    assert "checked" in form.find("input", name="approval_required").attrs
    r = cluster.api("POST", "vcs", admin_token, json={"name": "other"})
    assert r.status_code == 201, r.text
    tokens = {}
    for name, vc in (("pat", "review"), ("quinn", "review"), ("rita", "other")):
        assert cluster.signup(name, name.title(), PASSWORD).status_code == 302
        assert cluster.api("POST", f"vcs/{vc}/members", admin_token, json={"user": name}).ok
        tokens[name] = cluster.token(name, PASSWORD)
    r = post(cluster, admin, "/vcs/review/members/quinn/admin", admin="1")
    assert r.status_code == 200 and "quinn is now an admin of review" in r.text
    assert parse(r.text).find("tr", data_member="quinn").attrs["data-admin"] == "1"
    assert parse(r.text).find("tr", data_member="pat").attrs["data-admin"] == "0"
    r = cluster.api("PATCH", "vcs/other/members/rita", admin_token, json={"admin": True})
    assert r.status_code == 200 and r.json()["admin"] is True
    members = cluster.api("GET", "vcs/review/members", admin_token).json()
    assert {m["user"]: m["admin"] for m in members} == {"pat": False, "quinn": True}
    assert cluster.api("GET", "vcs/review", admin_token).json()["admins"] == ["quinn"]
    # /me says whose workloads a user approves (the Lab's Overview links them to the tab)
    assert cluster.api("GET", "me", tokens["quinn"]).json()["vc_admin_of"] == ["review"]
    assert cluster.api("GET", "me", tokens["pat"]).json()["vc_admin_of"] == []
    return tokens


def test_approval_of_a_hub_spawn(cluster, admin_token, reviewers):
    """A plain member's spawn from the hub waits as unapproved ("Waiting for approval" as
    spawn progress, no device held); the VC's admin approves it on the workloads tab, and it
    starts with its GPU."""
    pat, quinn, rita = reviewers["pat"], reviewers["quinn"], reviewers["rita"]
    options = {"vc": "review", "device_type": GPU, "devices_per_node": 1}
    r = cluster.hub_api("POST", "users/pat/server", pat, json=options)
    assert r.status_code in (201, 202), r.text
    events = cluster.spawn_progress("pat", pat, until="Waiting for approval")
    assert any("Waiting for approval" in m and "review" in m for m in events), events
    (w,) = [w for w in cluster.api("GET", "workloads", pat).json() if w["vc"] == "review"]
    assert w["status"] == "unapproved" and w["placement"] == {}
    assert cluster.api("GET", "vcs/review", admin_token).json()["usage"] == {}
    # who may not decide: the owner (403), another VC's admin (404)
    assert cluster.api("POST", f"workloads/{w['id']}/approve", pat).status_code == 403
    assert cluster.api("POST", f"workloads/{w['id']}/approve", rita).status_code == 404
    assert cluster.api("GET", "workloads?approvable=1", rita).json() == []
    listed = cluster.api("GET", "workloads?approvable=1", quinn).json()
    assert [x["id"] for x in listed] == [w["id"]]

    # the VC admin's workloads tab: only that tab, only the review VC, approve / reject
    s = cluster.login("quinn", PASSWORD)
    r = s.get(cluster.url + ADMIN + "/workloads?lang=en")
    assert r.status_code == 200
    page = parse(r.text)
    tabs = page.find(id="ytung-admin-tabs")
    assert [a.attrs["data-tab"] for a in tabs.find_all("a")] == ["workloads"]
    assert "1 waiting for approval" in page.find(id="ytung-waiting-approval").text
    row = page.find("tr", data_workload=str(w["id"]))
    assert row.attrs["data-status"] == "unapproved" and "Unapproved" in row.text
    assert row.find("button", data_action="approve").text == "Approve"
    assert row.find("button", data_action="reject").text == "Reject"
    assert "Stop" not in row.text  # stopping others' work stays with System Admins
    vcs_shown = {
        r.attrs["data-workload"] for r in page.find_all("tr") if "data-workload" in r.attrs
    }
    assert vcs_shown == {str(w["id"])}
    assert s.get(cluster.url + ADMIN + "/vcs").status_code == 403
    r = s.post(
        cluster.url + ADMIN + f"/workloads/{w['id']}/approve",
        data={"_xsrf": xsrf(cluster, s)},
    )
    assert r.status_code == 200 and f"Approved workload {w['id']}" in r.text
    cluster.wait_for_server("pat", pat, timeout=120)
    w = cluster.api("GET", f"workloads/{w['id']}", pat).json()
    assert w["status"] in ("scheduling", "running") and w["reviewed_by"] == "quinn"
    assert len(w["placement"]["gpu-node-1"]) == 1
    # the hub-page spawn is a dev environment in D2 too
    (env,) = [e for e in cluster.api("GET", "devenvs", pat).json() if e["hub_server"] == ""]
    assert env["name"] == "default" and env["code_dir"] == "/home/pat"
    assert env["workload_id"] == w["id"]
    assert cluster.hub_api("DELETE", "users/pat/server", pat).status_code in (202, 204)


def test_reject_on_the_workloads_tab_reaches_the_owner(cluster, admin, reviewers):
    pat = reviewers["pat"]
    r = cluster.api("POST", "workloads", pat, json={"vc": "review", "name": "second"})
    assert r.status_code == 201 and r.json()["status"] == "unapproved", r.text
    wid = r.json()["id"]
    page = parse(admin.get(cluster.url + ADMIN + "/workloads?status=unapproved").text)
    assert page.find("tr", data_workload=str(wid)).find("button", data_action="reject")
    r = post(cluster, admin, f"/workloads/{wid}/reject", reason="use the cpu VC")
    assert r.status_code == 200 and f"Rejected workload {wid}" in r.text
    w = cluster.api("GET", f"workloads/{wid}", pat).json()
    assert w["status"] == "closed"
    assert w["reason"] == {"code": "rejected", "text": "Rejected by admin: use the cpu VC"}
    r = post(cluster, admin, f"/workloads/{wid}/approve")
    assert "Only an unapproved workload can be approved" in r.text
    # a plain member cannot use the tab at all
    s = cluster.login("pat", PASSWORD)
    assert s.get(cluster.url + ADMIN + "/workloads").status_code == 403
