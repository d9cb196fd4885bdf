"""Crash recovery: ``kill -9`` of the hub and the service mid-stop, with a spawn waiting in the
queue, then a restart.

After the restart the reconciler must leave allocations and running servers in agreement:
no leaked device, no device held twice, every admitted workload running.
"""

import time

import pytest

from tests.harness import ADMIN_PASSWORD, RunningPlatform

pytestmark = pytest.mark.slow

PASSWORD = "Secret-pass-42"
GPU = "nvidia_gpu_amd64"


def consistent(platform: RunningPlatform, admin: str) -> str | None:
    """None when devices, workloads and the hub's servers agree; else what disagrees."""
    devices = platform.api("GET", "devices", admin).json()
    if devices["orphans"]:
        return f"orphans {devices['orphans']}"
    held: dict[int, int] = {}
    for node in devices["nodes"]:
        for d in node["devices"]:
            if d["held_by"]:
                held[d["held_by"]["workload"]] = held.get(d["held_by"]["workload"], 0) + 1
    users = {u["name"]: u for u in platform.hub_api("GET", "users", admin).json()}
    for w in platform.api("GET", "workloads", admin).json():
        active = w["status"] in ("scheduling", "running", "stopping")
        if active != (w["id"] in held):
            return f"workload {w['id']} is {w['status']} but holds {held.get(w['id'], 0)} devices"
        if active and held[w["id"]] != w["total_devices"]:
            return f"workload {w['id']} holds {held[w['id']]} of {w['total_devices']}"
        server = users[w["owner"]]["servers"].get(w["server_name"])
        if w["status"] == "running" and not (server and server.get("ready")):
            return f"workload {w['id']} is running but its server is not"
        if w["status"] in ("scheduling", "stopping"):
            return f"workload {w['id']} is still {w['status']}"
    for user in users.values():
        for name, server in user["servers"].items():
            if server.get("ready") and not any(
                w["owner"] == user["name"] and w["server_name"] == name and w["id"] in held
                for w in platform.api("GET", "workloads", admin).json()
            ):
                return f"server {user['name']}/{name} runs without devices"
    return None


@pytest.fixture
def crashable(tmp_path):
    """A platform with 2 simulated GPUs, VC `vision` (both), members r1, r2, r3 → tokens."""
    platform = RunningPlatform(
        tmp_path,
        extra_env={
            "YTUNG_SIMULATED_DEVICES": "gpu-node-1:nvidia_gpu_amd64=2",
            "YTUNG_RECONCILE_INTERVAL": "1",
            "YTUNG_RECONCILE_GRACE": "3",
        },
    )
    platform.start()
    try:
        admin = platform.token("admin", ADMIN_PASSWORD)
        assert platform.api("POST", "vcs", admin, json={"name": "vision", "quota": {GPU: 2}}).ok
        tokens = {}
        for name in ("r1", "r2", "r3"):
            platform.signup(name, name, PASSWORD)
            assert platform.api("POST", "vcs/vision/members", admin, json={"user": name}).ok
            tokens[name] = platform.token(name, PASSWORD)
        yield platform, tokens
    finally:
        platform.stop()


GPU_REQUEST = {"vc": "vision", "device_type": GPU, "devices_per_node": 1}


def restart_until_consistent(platform: RunningPlatform) -> str:
    platform.start()
    admin = platform.token("admin", ADMIN_PASSWORD)
    deadline = time.monotonic() + 120
    problem = "not checked"
    while time.monotonic() < deadline:
        problem = consistent(platform, admin)
        if problem is None:
            return admin
        time.sleep(1)
    raise AssertionError(problem + "\n" + platform.log_tail())


def running_placements(platform: RunningPlatform, admin: str) -> dict[str, tuple[int, ...]]:
    return {
        w["owner"]: tuple(w["placement"]["gpu-node-1"])
        for w in platform.api("GET", "workloads", admin).json()
        if w["status"] == "running"
    }


def test_kill_9_hub_and_service_mid_spawn(crashable):
    platform, tokens = crashable
    platform.hub_api("POST", "users/r1/server", tokens["r1"], json=GPU_REQUEST)
    platform.wait_for_server("r1", tokens["r1"])
    # r2's spawn is in flight when the hub and the service die
    platform.hub_api("POST", "users/r2/server", tokens["r2"], json=GPU_REQUEST)
    platform.kill9()
    admin = restart_until_consistent(platform)
    running = running_placements(platform, admin)
    assert set(running) == {"r1", "r2"} and sorted(running.values()) == [(0,), (1,)]
    for name in ("r1", "r2"):
        platform.wait_for_server(name, tokens[name], timeout=60)


def test_kill_9_hub_and_service_mid_stop_with_a_queue(crashable):
    platform, tokens = crashable
    for name in ("r1", "r2"):
        platform.hub_api("POST", f"users/{name}/server", tokens[name], json=GPU_REQUEST)
        platform.wait_for_server(name, tokens[name])
    # r3's spawn waits in the queue (both GPUs taken) when the hub and the service die
    platform.hub_api("POST", "users/r3/server", tokens["r3"], json=GPU_REQUEST)
    deadline = time.monotonic() + 30
    mine = []
    while time.monotonic() < deadline:
        mine = platform.api("GET", "workloads", tokens["r3"]).json()
        if mine and mine[0]["status"] == "queued":
            break
        time.sleep(0.3)
    assert mine and mine[0]["status"] == "queued"
    # … while r2's server is being stopped (its devices not yet freed)
    platform.hub_api("DELETE", "users/r2/server", tokens["r2"])
    platform.kill9()
    admin = restart_until_consistent(platform)
    # r1 kept its GPU; the queued r3 survived the crash and got r2's GPU by itself
    running = running_placements(platform, admin)
    assert set(running) == {"r1", "r3"} and sorted(running.values()) == [(0,), (1,)]
    for name in ("r1", "r3"):
        platform.wait_for_server(name, tokens[name], timeout=60)
