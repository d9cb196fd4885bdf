"""V6 on the local runtime, end to end: a dev environment whose kernel allocates more than the
memory ceiling is killed, and shows 已失败 (failed) with the reason.

The ceiling comes from configuration (``c.YtungSpawnerMixin.resource_limits`` in a
``YTUNG_EXTRA_CONFIG`` file), as an administrator would set it.
"""

from __future__ import annotations

import time

import pytest
import requests
from tornado.httpclient import HTTPClientError

from tests.harness import ADMIN_PASSWORD, RunningPlatform, execute_in_kernel
from ytung_spawner.local import tree_rss

pytestmark = pytest.mark.slow

PASSWORD = "Secret-pass-42"
CEILING_MI = 450


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    data = tmp_path_factory.mktemp("memlimit")
    config = data / "limits.py"
    config.write_text(
        "c.YtungSpawnerMixin.resource_limits = {\n"
        f'    "default": {{"mem_guarantee": "100Mi", "mem_limit": "{CEILING_MI}Mi"}},\n'
        "}\n"
        "c.YtungLocalSpawner.memory_poll_interval = 0.5\n"
    )
    with RunningPlatform.running(
        data, YTUNG_EXTRA_CONFIG=str(config), YTUNG_RECONCILE_INTERVAL="1"
    ) as p:
        yield p


async def test_over_the_ceiling_is_killed_and_failed(small):
    admin = small.token("admin", ADMIN_PASSWORD)
    assert small.signup("mia", "Mia", PASSWORD).status_code == 302
    assert small.api("POST", "vcs/default/members", admin, json={"user": "mia"}).status_code == 201
    mia = small.token("mia", PASSWORD)
    r = small.api("POST", "devenvs", mia, json={"name": "greedy", "engine": "pytorch-2.13-cpu"})
    assert r.status_code == 201, r.text
    env_id = r.json()["id"]
    deadline = time.monotonic() + 90
    while (env := small.api("GET", f"devenvs/{env_id}", mia).json())["status"] != "running":
        assert time.monotonic() < deadline, env
        time.sleep(0.5)
    server = env["server_name"]
    small.wait_for_server("mia", mia, server)
    url = f"{small.url}/user/mia/{server}/"
    # below the ceiling a kernel runs fine
    server_pid = int(await execute_in_kernel(url, mia, "import os; print(os.getppid())"))
    # the server's tree (server + kernels) is what counts; allocate past the ceiling
    before = tree_rss(server_pid)
    assert before is not None and before < CEILING_MI * 2**20, before
    # the kernel dies with its server: its websocket closes (or the server is gone)
    with pytest.raises((RuntimeError, TimeoutError, HTTPClientError)):
        await execute_in_kernel(
            url, mia, f"b = b'x' * ({CEILING_MI} * 2**20); import time; time.sleep(30)", timeout=60
        )
    deadline = time.monotonic() + 60
    while (env := small.api("GET", f"devenvs/{env_id}", mia).json())["status"] != "failed":
        assert time.monotonic() < deadline, env
        time.sleep(0.5)
    text = env["reason"]["text"]
    assert text.startswith("memory limit exceeded (") and text.endswith(f" > {CEILING_MI}Mi)")
    assert tree_rss(server_pid) is None  # the whole tree is gone
    zh = requests.get(
        f"{small.url}/services/ytung/api/v1/devenvs/{env_id}",
        headers={"Authorization": f"token {mia}", "Accept-Language": "zh-CN"},
        timeout=30,
    ).json()
    assert zh["status_text"] == "已失败"
    # the devices (none here) and the record are kept: it can start again
    assert env["startable"] is True
