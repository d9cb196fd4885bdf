"""Dev environments end to end on the real hub (SPEC D1–D9, I1, U1).

One platform with 2 simulated GPUs; a user creates an environment through the service API,
the service starts its named server, and then: the platform variables in a kernel and in
``$YTUNG_POD_ENV`` (D9), a real SSH login with the reported password (D5), a port of the
environment through the hub's proxy (D6), save image (D8, I1), stop → closed with the files
kept, start again, pause, delete (D7).
"""

from __future__ import annotations

import subprocess
import sys
import time

import asyncssh
import pytest
import requests

from tests.harness import ADMIN_PASSWORD, RunningPlatform, execute_in_kernel, free_port

pytestmark = pytest.mark.slow

PASSWORD = "Secret-pass-42"
GPU = "nvidia_gpu_amd64"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    with RunningPlatform.running(
        tmp_path_factory.mktemp("devenvs"),
        YTUNG_SIMULATED_DEVICES=f"gpu-node-1:{GPU}=2",
        YTUNG_RECONCILE_INTERVAL="1",
    ) as p:
        yield p


@pytest.fixture(scope="module")
def admin(cluster):
    return cluster.token("admin", ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def devon(cluster, admin):
    """A member of `default` (which gets the 2 GPUs)."""
    r = cluster.api("PATCH", "vcs/default", admin, json={"quota": {GPU: 2}})
    assert r.status_code == 200, r.text
    assert cluster.signup("devon", "Devon", PASSWORD).status_code == 302
    r = cluster.api("POST", "vcs/default/members", admin, json={"user": "devon"})
    assert r.status_code == 201
    return cluster.token("devon", PASSWORD)


def wait_status(cluster, token, env_id, wanted, timeout=90):
    deadline = time.monotonic() + timeout
    env = None
    while time.monotonic() < deadline:
        env = cluster.api("GET", f"devenvs/{env_id}", token).json()
        if env["status"] in wanted and (env["status"] != "running" or env["ssh"]):
            if env["status"] == "running":
                # the hub adds the proxy route once the spawn is over
                cluster.wait_for_server(env["owner"], token, env["server_name"])
            return env
        time.sleep(0.5)
    raise AssertionError(f"{env_id} never became {wanted}: {env}\n{cluster.log_tail()}")


@pytest.fixture(scope="module")
def running_env(cluster, devon):
    body = {
        "name": "resnet-dev",
        "description": "ResNet experiments",
        "code_dir": "/home/devon/resnet",
        "engine_source": "preset",
        "engine": "pytorch-2.13-cuda",
        "job_type": "regular",
        "device_type": GPU,
        "devices_per_node": 1,
    }
    r = cluster.api("POST", "devenvs", devon, json=body)
    assert r.status_code == 201, r.text
    env = r.json()
    assert env["status"] in ("scheduling", "running", "queued")
    return wait_status(cluster, devon, env["id"], {"running"})


def test_create_refusals_are_clear(cluster, devon):
    cases = [
        ({}, 400, "name is required"),
        ({"name": "x", "engine": "nope"}, 400, "No such preset engine"),
        ({"name": "x", "engine_source": "custom", "engine": "Bad Image!"}, 400, "image name"),
        ({"name": "x", "engine": "pytorch-2.13-cpu", "code_dir": "/home/other/x"}, 400, "inside"),
        (
            {"name": "x", "engine": "pytorch-2.13-cpu", "code_dir": "/home/devon/../x"},
            400,
            "inside",
        ),
        ({"name": "x", "engine": "pytorch-2.13-cpu", "privileged": True}, 403, "Privilege"),
        (
            {"name": "x", "engine": "pytorch-2.13-cpu", "device_type": GPU, "devices_per_node": 9},
            400,
            "",
        ),
        ({"name": "x", "engine": "pytorch-2.13-cpu", "job_type": "batch"}, 400, "job type"),
    ]
    for body, status, words in cases:
        r = cluster.api("POST", "devenvs", devon, json=body)
        assert r.status_code == status, (body, r.text)
        assert words in r.json()["message"], (body, r.text)
    # nothing was left behind by the refusals
    assert [e["name"] for e in cluster.api("GET", "devenvs", devon).json()] in ([], ["resnet-dev"])
    zh = requests.post(
        f"{cluster.url}/services/ytung/api/v1/devenvs",
        json={},
        headers={"Authorization": f"token {devon}", "Accept-Language": "zh-CN"},
        timeout=30,
    )
    assert zh.status_code == 400 and "名称" in zh.json()["message"]


def test_list_has_every_column(cluster, devon, running_env):
    [env] = [e for e in cluster.api("GET", "devenvs", devon).json() if e["name"] == "resnet-dev"]
    assert env["status"] == "running" and env["status_text"] == "Running"
    assert env["code_dir"] == "/home/devon/resnet"
    assert env["description"] == "ResNet experiments"
    assert env["engine"] == "pytorch-2.13-cuda" and env["image"].startswith("ytung/pytorch")
    assert env["privileged"] is False and env["created"]
    assert env["time_left"] is None  # `default` has no time limit: "--"
    assert env["total_devices"] == 1 and env["device_type"] == GPU
    assert env["lab_url"] == f"/user/devon/{env['server_name']}/lab"
    zh = requests.get(
        f"{cluster.url}/services/ytung/api/v1/devenvs",
        headers={"Authorization": f"token {devon}", "Accept-Language": "zh-CN"},
        timeout=30,
    ).json()
    assert zh[0]["status_text"] == "运行中"
    lab = requests.get(
        cluster.url + env["lab_url"], headers={"Authorization": f"token {devon}"}, timeout=30
    )
    assert lab.status_code == 200
    assert (cluster.data_dir / "home" / "devon" / "resnet").is_dir()


async def test_platform_variables_in_a_kernel(cluster, devon, running_env):
    """D9: the variables are in the kernel's environment and in $YTUNG_POD_ENV."""
    server = running_env["server_name"]
    code = (
        "import os\n"
        "print(os.environ['YTUNG_DEVENV_NAME'], os.environ['YTUNG_CODE_DIR'],"
        " os.environ['CUDA_VISIBLE_DEVICES'], os.environ['YTUNG_WORKLOAD_ID'])\n"
        "print(open(os.environ['YTUNG_POD_ENV']).read())\n"
    )
    out = await execute_in_kernel(f"{cluster.url}/user/devon/{server}/", devon, code)
    home = cluster.data_dir / "home" / "devon"
    first = out.splitlines()[0].split()
    assert first[0] == "resnet-dev" and first[1] == str(home / "resnet")
    assert first[2] in ("0", "1") and first[3] == str(running_env["workload_id"])
    assert "export YTUNG_VC=default" in out
    assert "export YTUNG_DEVENV_NAME=resnet-dev" in out
    assert f"export CUDA_VISIBLE_DEVICES={first[2]}" in out
    assert "TOKEN" not in out
    # the notebook widget lists the environments through the platform client
    widget = await execute_in_kernel(
        f"{cluster.url}/user/devon/{server}/",
        devon,
        "from ytung_widgets.devenvs import DevEnvs\nw = DevEnvs(lang='en')\n"
        "print(repr(w), w.error)\nprint(w._body.value)",
    )
    assert "<DevEnvs 1 environments" in widget and "resnet-dev" in widget
    assert "/home/devon/resnet" in widget


def test_lab_side_of_the_api(cluster, devon, running_env):
    """The Lab's section calls the server extension, which forwards with the server's token."""
    base = f"{cluster.url}/user/devon/{running_env['server_name']}/ytung/api/"
    headers = {"Authorization": f"token {devon}"}
    envs = requests.get(base + "devenvs?lang=zh_CN", headers=headers, timeout=30).json()
    assert [e["name"] for e in envs] == ["resnet-dev"] and envs[0]["status_text"] == "运行中"
    options = requests.get(base + "devenvs/options", headers=headers, timeout=30).json()
    assert {e["name"] for e in options["engines"]} >= {"pytorch-2.13-cpu", "mindspore-2.4-ascend"}
    assert options["port_range"] == [40000, 49999] and options["privilege_enabled"] is False
    r = requests.post(base + "devenvs", headers=headers, json={"name": "x"}, timeout=30)
    assert r.status_code == 400 and "Choose an engine" in r.json()["message"]
    r = requests.put(
        base + "settings/privilege", headers=headers, json={"privilege_enabled": 1}, timeout=30
    )
    assert r.status_code == 400


async def test_ssh_login_runs_in_the_environment(cluster, devon, running_env):
    """D5: the list's line and password open a real SSH session in the environment."""
    ssh = running_env["ssh"]
    assert ssh["command"] == f"ssh -p {ssh['port']} devon@127.0.0.1"
    async with asyncssh.connect(
        "127.0.0.1", ssh["port"], username="devon", password=ssh["password"], known_hosts=None
    ) as conn:
        r = await conn.run("pwd; echo $YTUNG_DEVENV_NAME; echo hi > from-ssh.txt", check=True)
        # D4: large files by sftp/scp, into the code dir
        async with conn.start_sftp_client() as sftp:
            async with sftp.open("resnet/weights.bin", "wb") as f:
                await f.write(b"\0" * 3_000_000)
    home = cluster.data_dir / "home" / "devon"
    assert r.stdout.split() == [str(home), "resnet-dev"]
    assert (home / "from-ssh.txt").read_text() == "hi\n"
    assert (home / "resnet" / "weights.bin").stat().st_size == 3_000_000
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncssh.connect(
            "127.0.0.1", ssh["port"], username="devon", password="wrong", known_hosts=None
        )


def test_port_through_the_hub_proxy(cluster, devon, running_env):
    """D6: a web server on a port in 40000-49999 opens through the hub; others do not."""
    port = next(p for p in range(41000 + free_port() % 1000, 49999) if _free(p))
    web = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=cluster.data_dir / "home" / "devon",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        r = cluster.api("GET", f"devenvs/{running_env['id']}/ports/{port}", devon)
        assert r.status_code == 200, r.text
        url = cluster.url + r.json()["url"]
        deadline = time.monotonic() + 20
        while True:
            page = requests.get(url, headers={"Authorization": f"token {devon}"}, timeout=10)
            if page.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        assert page.status_code == 200 and "from-ssh.txt" in page.text
        assert (
            cluster.api("GET", f"devenvs/{running_env['id']}/ports/8888", devon).status_code == 400
        )
        # the server itself refuses ports out of range, whatever listens there
        server = running_env["server_name"]
        for refused in (22, 8081, 39999, 50000, 65535):
            out = requests.get(
                f"{cluster.url}/user/devon/{server}/proxy/{refused}/",
                headers={"Authorization": f"token {devon}"},
                timeout=10,
            )
            assert out.status_code == 403 and "40000-49999" in out.text, refused
        absolute = requests.get(
            f"{cluster.url}/user/devon/{server}/proxy/absolute/22/",
            headers={"Authorization": f"token {devon}"},
            timeout=10,
        )
        assert absolute.status_code == 403
        other = requests.get(
            f"{cluster.url}/user/devon/{server}/proxy/example.com:{port}/",
            headers={"Authorization": f"token {devon}"},
            timeout=10,
        )
        assert other.status_code == 403
    finally:
        web.terminate()
        web.wait(10)


def _free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_save_image_and_start_from_it(cluster, devon, running_env):
    """D8: on `local` an image is the engine and the exact `pip freeze` of the environment."""
    env_id = running_env["id"]
    r = cluster.api(
        "POST", f"devenvs/{env_id}/images", devon, json={"name": "resnet", "version": "v1"}
    )
    assert r.status_code == 201, r.text
    image = r.json()
    assert image["from_devenv"] == "resnet-dev" and image["image"] == running_env["image"]
    assert any(p.startswith("asyncssh==") for p in image["packages"])
    assert image["start_command"][0].endswith("jupyterhub-singleuser")
    again = cluster.api(
        "POST", f"devenvs/{env_id}/images", devon, json={"name": "resnet", "version": "v1"}
    )
    assert again.status_code == 409
    assert cluster.api("POST", f"devenvs/{env_id}/images", devon, json={}).status_code == 400
    images = cluster.api("GET", "images", devon).json()
    assert [i["name"] for i in images] == ["resnet"]
    # a new environment can start from it (queued or started, the spec is accepted)
    r = cluster.api(
        "POST",
        "devenvs",
        devon,
        json={"name": "from-image", "engine_source": "saved", "engine": str(image["id"])},
    )
    assert r.status_code == 201, r.text
    assert r.json()["image"] == image["image"] and r.json()["engine_source"] == "saved"
    # in use: cannot be deleted
    assert cluster.api("DELETE", f"images/{image['id']}", devon).status_code == 409
    new_id = r.json()["id"]
    cluster.api("POST", f"devenvs/{new_id}/stop", devon)
    wait_status(cluster, devon, new_id, {"closed"})
    assert cluster.api("DELETE", f"devenvs/{new_id}", devon).status_code == 204
    assert cluster.api("DELETE", f"images/{image['id']}", devon).status_code == 204
    assert cluster.api("GET", "images", devon).json() == []


def test_stop_start_pause_delete(cluster, devon, admin, running_env):
    """D7: stop → closed, files stay, devices free at once; start again; pause; delete."""
    env_id = running_env["id"]
    home = cluster.data_dir / "home" / "devon"
    assert cluster.api("DELETE", f"devenvs/{env_id}", devon).status_code == 409  # running
    r = cluster.api("POST", f"devenvs/{env_id}/stop", devon)
    assert r.status_code == 200 and r.json()["status"] in ("stopping", "closed")
    env = wait_status(cluster, devon, env_id, {"closed"})
    assert env["ssh"] is None and env["lab_url"] is None
    devices = cluster.api("GET", "devices", admin).json()
    assert all(not d["held_by"] for n in devices["nodes"] for d in n["devices"])
    assert (home / "from-ssh.txt").exists() and (home / "resnet").is_dir()
    # start again: a new run with the same spec
    r = cluster.api("POST", f"devenvs/{env_id}/start", devon)
    assert r.status_code == 200, r.text
    env = wait_status(cluster, devon, env_id, {"running"})
    assert env["workload_id"] != running_env["workload_id"]
    assert env["code_dir"] == "/home/devon/resnet" and env["device_type"] == GPU
    assert cluster.api("POST", f"devenvs/{env_id}/start", devon).status_code == 409
    # pause = stop keeping files and spec; resume = start
    r = cluster.api("POST", f"devenvs/{env_id}/pause", devon)
    assert r.status_code == 200
    env = wait_status(cluster, devon, env_id, {"closed"})
    assert env["paused"] is True
    assert cluster.api("POST", f"devenvs/{env_id}/stop", devon).status_code == 409
    assert cluster.api("DELETE", f"devenvs/{env_id}", devon).status_code == 204
    assert cluster.api("GET", f"devenvs/{env_id}", devon).status_code == 404
    assert (home / "from-ssh.txt").exists()  # files kept


def test_privilege_setting(cluster, devon):
    """U1: the Privilege Job toggle; D1: only then a privileged environment (marked on local)."""
    r = cluster.api("GET", "me/settings", devon)
    assert r.json()["privilege_enabled"] is False
    r = cluster.api("PUT", "me/settings", devon, json={"privilege_enabled": "yes"})
    assert r.status_code == 400
    r = cluster.api("PUT", "me/settings", devon, json={"privilege_enabled": True})
    assert r.status_code == 200 and r.json()["privilege_enabled"] is True
    r = cluster.api(
        "POST",
        "devenvs",
        devon,
        json={"name": "rooted", "engine": "mindspore-2.4-ascend", "privileged": True},
    )
    assert r.status_code == 201, r.text
    env = r.json()
    assert env["privileged"] is True and env["engine_type"] == "MindSpore"
    wid = env["workload_id"]
    workload = cluster.api("GET", f"workloads/{wid}", devon).json()
    assert workload["user_options"]["devenv"]["privileged"] is True
    assert workload["kind"] == "devenv" and workload["server_name"] == f"devenv-{wid}"
    cluster.api("POST", f"devenvs/{env['id']}/stop", devon)
    wait_status(cluster, devon, env["id"], {"closed"})
    cluster.api("PUT", "me/settings", devon, json={"privilege_enabled": False})
    # a privileged env cannot start again once the setting is off
    assert cluster.api("POST", f"devenvs/{env['id']}/start", devon).status_code == 403


def test_other_users_do_not_see_it(cluster, admin, devon):
    assert cluster.signup("mallory", "M", PASSWORD).status_code == 302
    mallory = cluster.token("mallory", PASSWORD)
    envs = cluster.api("GET", "devenvs", devon).json()
    for env in envs:
        assert cluster.api("GET", f"devenvs/{env['id']}", mallory).status_code in (403, 404)
    everybody = cluster.api("GET", "devenvs?owner=*", admin).json()
    assert {e["owner"] for e in everybody} >= ({"devon"} if envs else set())


def _session(cluster, user):
    s = cluster.login(user, ADMIN_PASSWORD if user == "admin" else PASSWORD)
    assert s.get(cluster.url + "/services/ytung/devenvs").status_code == 200  # OAuth once
    return s, s.cookies.get("_xsrf", path="/services/ytung/")


def test_service_page_without_a_lab(cluster, devon):
    """D1/D2/D4/U1 on /services/ytung/devenvs: the front door of a user with no Lab."""
    s, xsrf = _session(cluster, "devon")
    page = s.get(cluster.url + "/services/ytung/devenvs?lang=en").text
    for field in (
        'name="name"',
        'name="description"',
        'name="code_dir"',
        'name="engine_source"',
        'name="engine"',
        'name="saved_image"',
        'name="custom_image"',
        'name="engine_type"',
        'name="job_type"',
        'name="nodes"',
        'name="devices_per_node"',
        'name="device_type"',
        'id="d-total"',
    ):
        assert field in page, field
    assert 'name="privileged"' not in page  # the setting is off
    assert "mindspore-2.4-ascend" in page and "pytorch-2.13-cpu" in page
    home = s.get(cluster.url + "/services/ytung/admin/", allow_redirects=False)
    assert home.status_code == 403  # not an admin; but every service page links the front door
    assert 'id="ytung-devenvs-link"' in home.text
    # a refused form comes back as typed, with the reason
    r = s.post(
        cluster.url + "/services/ytung/devenvs",
        data={
            "_xsrf": xsrf,
            "name": "web-env",
            "code_dir": "/etc",
            "engine_source": "preset",
            "engine": "pytorch-2.13-cpu",
        },
    )
    assert r.status_code == 400 and "must stay inside /home/devon" in r.text
    assert 'value="web-env"' in r.text
    # the privilege toggle, then a privileged environment from the form
    s.post(
        cluster.url + "/services/ytung/devenvs/privilege",
        data={"_xsrf": xsrf, "privilege_enabled": "on"},
    )
    assert 'name="privileged"' in s.get(cluster.url + "/services/ytung/devenvs").text
    r = s.post(
        cluster.url + "/services/ytung/devenvs",
        data={
            "_xsrf": xsrf,
            "name": "web-env",
            "code_dir": "/home/devon/web",
            "engine_source": "custom",
            "custom_image": "registry.example.com/ai/pt:2.13",
            "engine_type": "PyTorch",
            "job_type": "regular",
            "devices_per_node": "0",
            "privileged": "on",
        },
    )
    assert r.status_code == 200 and "Created web-env" in r.text
    env = next(e for e in cluster.api("GET", "devenvs", devon).json() if e["name"] == "web-env")
    assert env["privileged"] and env["image"] == "registry.example.com/ai/pt:2.13"
    assert env["code_dir"] == "/home/devon/web"
    # D4: upload into the code dir (names only: a path in the name stays inside)
    files = [("files", ("train.py", b"print('hi')\n")), ("files", ("../../evil.py", b"x"))]
    r = s.post(
        cluster.url + f"/services/ytung/devenvs/{env['id']}/upload",
        data={"_xsrf": xsrf},
        files=files,
    )
    assert r.status_code == 200 and "Uploaded 2 files" in r.text
    web = cluster.data_dir / "home" / "devon" / "web"
    assert (web / "train.py").read_bytes() == b"print('hi')\n" and (web / "evil.py").exists()
    assert not (cluster.data_dir / "home" / "evil.py").exists()
    # D6 from the page: out of range is refused with the reason
    r = s.get(cluster.url + f"/services/ytung/devenvs/{env['id']}/port?port=22")
    assert "Port 22 is outside 40000-49999" in r.text
    zh = s.get(cluster.url + "/services/ytung/devenvs?lang=zh_CN").text
    assert "创建开发环境" in zh and "代码存储目录" in zh
    s.get(cluster.url + "/services/ytung/devenvs?lang=en")
    s.post(cluster.url + f"/services/ytung/devenvs/{env['id']}/stop", data={"_xsrf": xsrf})
    wait_status(cluster, devon, env["id"], {"closed"})
    r = s.post(cluster.url + f"/services/ytung/devenvs/{env['id']}/delete", data={"_xsrf": xsrf})
    assert "Deleted web-env" in r.text and (web / "train.py").exists()
    s.post(cluster.url + "/services/ytung/devenvs/privilege", data={"_xsrf": xsrf})
    assert cluster.api("GET", "me/settings", devon).json()["privilege_enabled"] is False


def test_admin_task_management(cluster, devon, admin):
    """W2: all users' workloads filtered by type, status, VC and keyword; stop frees devices."""
    r = cluster.api(
        "POST",
        "devenvs",
        devon,
        json={
            "name": "w2-gpu",
            "engine": "pytorch-2.13-cuda",
            "device_type": GPU,
            "devices_per_node": 2,
        },
    )
    assert r.status_code == 201, r.text
    env = wait_status(cluster, devon, r.json()["id"], {"running"})
    s, xsrf = _session(cluster, "admin")
    url = cluster.url + "/services/ytung/admin/workloads"

    def rows(**params):
        html = s.get(url, params={"lang": "en", **params}).text
        return [int(x) for x in __import__("re").findall(r'data-workload="(\d+)"', html)]

    wid = env["workload_id"]
    assert wid in rows(kind="devenv")
    assert wid not in rows(kind="training")
    assert wid in rows(status="running") and wid not in rows(status="queued")
    assert wid in rows(vc="default") and wid in rows(q="w2-g") and wid in rows(q="devo")
    assert wid not in rows(q="nobody-has-this")
    assert 'id="f-kind"' in s.get(url).text
    r = s.post(url + f"/{wid}/stop", data={"_xsrf": xsrf})
    assert r.status_code == 200
    devices = cluster.api("GET", "devices", admin).json()
    held = [d for n in devices["nodes"] for d in n.get("devices", []) if d.get("held_by")]
    assert held == []  # freed at once, not at the next reconciliation
    assert cluster.api("GET", f"workloads/{wid}", admin).json()["status"] == "closed"
    cluster.api("DELETE", f"devenvs/{env['id']}", devon)


def test_hub_page_spawn_is_a_dev_environment(cluster, devon, admin):
    """D2 lists a server started from the hub's own spawn page; stop and start from the
    platform act on that hub server, and a stop from the hub shows in D2 (both sides agree)."""
    r = cluster.hub_api("POST", "users/devon/server", devon, json={"vc": "default"})
    assert r.status_code in (201, 202), r.text
    cluster.wait_for_server("devon", devon)
    (env,) = [e for e in cluster.api("GET", "devenvs", devon).json() if e["hub_server"] == ""]
    assert env["name"] == "default" and env["code_dir"] == "/home/devon"
    assert env["engine_source"] == "preset" and env["engine"] == "pytorch-2.13-cpu"
    env = wait_status(cluster, devon, env["id"], {"running"})
    assert env["lab_url"] == "/user/devon/lab" and env["server_name"] == ""
    assert env["ssh"]["command"].startswith("ssh -p ")  # its SSH server reported back (D5)
    first = env["workload_id"]
    # stopped from the platform: the hub's default server goes away
    assert cluster.api("POST", f"devenvs/{env['id']}/stop", devon).status_code == 200
    wait_status(cluster, devon, env["id"], {"closed"})
    model = cluster.hub_api("GET", "users/devon", devon).json()
    assert "" not in model.get("servers", {})
    # started from the platform: the same hub server, started by the service
    assert cluster.api("POST", f"devenvs/{env['id']}/start", devon).status_code == 200
    env = wait_status(cluster, devon, env["id"], {"running"})
    assert env["workload_id"] != first and env["server_name"] == ""
    cluster.wait_for_server("devon", devon)
    # stopped from the hub: D2 says closed, the workload's devices are free
    assert cluster.hub_api("DELETE", "users/devon/server", devon).status_code in (202, 204)
    env = wait_status(cluster, devon, env["id"], {"closed"})
    assert cluster.api("GET", f"workloads/{env['workload_id']}", devon).json()["status"] == "closed"
    # a second spawn from the hub page reuses the same environment
    r = cluster.hub_api("POST", "users/devon/server", devon, json={"vc": "default"})
    assert r.status_code in (201, 202), r.text
    cluster.wait_for_server("devon", devon)
    hub_envs = [e for e in cluster.api("GET", "devenvs", devon).json() if e["hub_server"] == ""]
    assert [e["id"] for e in hub_envs] == [env["id"]]
    assert cluster.hub_api("DELETE", "users/devon/server", devon).status_code in (202, 204)
    wait_status(cluster, devon, env["id"], {"closed"})
    assert cluster.api("DELETE", f"devenvs/{env['id']}", devon).status_code == 204
