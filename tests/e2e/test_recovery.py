"""Crash recovery: ``kill -9`` of the hub and the service mid-spawn, then a restart.

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


def test_kill_9_hub_and_service_mid_spawn(tmp_path):
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
        for name in ("r1", "r2"):
            platform.signup(name, name, PASSWORD)
            assert platform.api("POST", "vcs/vision/members", admin, json={"user": name}).ok
            tokens[name] = platform.token(name, PASSWORD)
        gpu = {"vc": "vision", "device_type": GPU, "devices_per_node": 1}
        platform.hub_api("POST", "users/r1/server", tokens["r1"], json=gpu)
        platform.wait_for_server("r1", tokens["r1"])
        # r2's spawn is in flight when the hub and the service die
        platform.hub_api("POST", "users/r2/server", tokens["r2"], json=gpu)
        platform.kill9()

        platform.start()
        admin = platform.token("admin", ADMIN_PASSWORD)
        deadline = time.monotonic() + 120
        problem = "not checked"
        while time.monotonic() < deadline:
            problem = consistent(platform, admin)
            if problem is None:
                break
            time.sleep(1)
        assert problem is None, problem + "\n" + platform.log_tail()
        # both users got their GPU back, on different devices
        placements = [
            tuple(w["placement"]["gpu-node-1"])
            for w in platform.api("GET", "workloads", admin).json()
            if w["status"] == "running"
        ]
        assert sorted(placements) == [(0,), (1,)]
        for name in ("r1", "r2"):
            platform.wait_for_server(name, tokens[name], timeout=60)
    finally:
        platform.stop()
