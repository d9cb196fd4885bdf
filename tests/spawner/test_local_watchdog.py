"""V6 on the local runtime: the memory watchdog of ``YtungLocalSpawner`` on real processes,
and what a dev environment adds to the spawner's environment (D9)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time

import psutil
import pytest

from ytung_spawner.local import YtungLocalSpawner, kill_tree, mebibytes, tree_rss, watch_memory

# a parent that starts a child which allocates ``MB`` megabytes and then waits
TREE = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c",
    "import sys, time; b = bytearray({mb} * 2**20); b[::4096] = b'x' * len(b[::4096]);"
    " print('ready', flush=True); time.sleep(600)"], stdout=sys.stdout)
time.sleep(600)
"""


def start_tree(mb: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", TREE.format(mb=mb)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_tree_rss_counts_children():
    proc = start_tree(120)
    try:
        own = psutil.Process(proc.pid).memory_info().rss
        total = tree_rss(proc.pid)
        assert total > own + 100 * 2**20  # the child's 120 MB count for the parent's tree
    finally:
        kill_tree(proc.pid)
        proc.wait(10)
    assert tree_rss(proc.pid) is None  # gone


async def test_watchdog_kills_a_tree_over_the_limit():
    proc = start_tree(150)
    child = psutil.Process(proc.pid).children()[0]
    reasons = []

    async def exceeded(message):
        reasons.append(message)

    await asyncio.wait_for(watch_memory(proc.pid, 100 * 2**20, 0.1, exceeded), 30)
    assert proc.wait(10) == -9
    try:
        child.wait(10)  # killed too (reaped by whoever adopted it)
    except psutil.NoSuchProcess:
        pass
    assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    [reason] = reasons
    assert reason.startswith("memory limit exceeded (") and reason.endswith(" > 100Mi)")
    used = int(reason.split("(")[1].split("Mi")[0])
    assert used > 100


async def test_watchdog_leaves_a_tree_under_the_limit_alone():
    proc = start_tree(10)
    reasons = []

    async def exceeded(message):
        reasons.append(message)

    watch = asyncio.ensure_future(watch_memory(proc.pid, 2 * 2**30, 0.05, exceeded))
    try:
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert proc.poll() is None and reasons == [] and not watch.done()
        proc.kill()
        proc.wait(10)
        await asyncio.wait_for(watch, 5)  # returns by itself once the process is gone
        assert reasons == []
    finally:
        watch.cancel()
        if proc.poll() is None:
            proc.kill()


def test_mebibytes():
    assert mebibytes(200 * 2**20) == "200Mi"
    assert mebibytes(314572800) == "300Mi"


class _User:
    name = "ann"


@pytest.fixture
def spawner(tmp_path, monkeypatch):
    monkeypatch.setenv("YTUNG_DATA_DIR", str(tmp_path))
    s = YtungLocalSpawner.__new__(YtungLocalSpawner)
    s.user = _User()
    return s


def test_code_dir_maps_to_the_local_home(spawner, tmp_path):
    home = str(tmp_path / "home" / "ann")
    assert YtungLocalSpawner.ytung_code_dir(spawner, "/home/ann") == home
    assert YtungLocalSpawner.ytung_code_dir(spawner, "/home/ann/code/x") == home + "/code/x"
    assert YtungLocalSpawner.ytung_code_dir(spawner, "/etc") == home  # never outside the home


def test_devenv_environment(spawner, tmp_path):
    workload = {
        "owner": "ann",
        "nodes": 1,
        "devices_per_node": 2,
        "user_options": {
            "devenv": {
                "id": 7,
                "name": "resnet",
                "code_dir": "/home/ann/resnet",
                "image": "ytung/pytorch:2.13.0-cuda12.8",
                "engine_type": "PyTorch",
                "job_type": "regular",
                "privileged": True,
            }
        },
    }
    assert YtungLocalSpawner.ytung_devenv_env(spawner, workload) == {
        "YTUNG_DEVENV_ID": "7",
        "YTUNG_DEVENV_NAME": "resnet",
        "YTUNG_CODE_DIR": str(tmp_path / "home" / "ann" / "resnet"),
        "YTUNG_ENGINE_IMAGE": "ytung/pytorch:2.13.0-cuda12.8",
        "YTUNG_ENGINE_TYPE": "PyTorch",
        "YTUNG_JOB_TYPE": "regular",
        "YTUNG_NODES": "1",
        "YTUNG_DEVICES_PER_NODE": "2",
        "YTUNG_PRIVILEGED": "1",
        "YTUNG_OWNER": "ann",
    }
    assert YtungLocalSpawner.ytung_devenv_env(spawner, {"user_options": {}}) == {}
