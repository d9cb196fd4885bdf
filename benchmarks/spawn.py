"""Spawn time: ``YtungLocalSpawner`` vs JupyterHub's plain ``SimpleLocalProcessSpawner``.

Two real platforms run side by side from the same hub config; the only difference is the
spawner class. Rounds alternate between them; each round measures the time from the spawn
request (``POST /hub/api/users/<name>/server``) to JupyterLab answering ``/user/<name>/lab``.
Prints the medians and the ratio (target: ≤ 1.3).

    python benchmarks/spawn.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).parent.parent))

from tests.harness import ADMIN_PASSWORD, RunningPlatform  # noqa: E402

PLAIN_CONFIG = """
import os, sys
c.JupyterHub.spawner_class = "jupyterhub.spawner.SimpleLocalProcessSpawner"
c.SimpleLocalProcessSpawner.home_dir_template = os.environ["YTUNG_DATA_DIR"] + "/home/{username}"
c.Spawner.cmd = [os.path.join(os.path.dirname(sys.executable), "jupyterhub-singleuser")]
if os.geteuid() == 0:
    c.Spawner.args = ["--allow-root"]
"""


def spawn_once(platform: RunningPlatform, token: str, timeout: float = 120) -> float:
    start = time.perf_counter()
    r = platform.hub_api("POST", "users/admin/server", token)
    if r.status_code not in (201, 202):
        raise RuntimeError(f"spawn refused: {r.status_code} {r.text}")
    deadline = start + timeout
    while time.perf_counter() < deadline:
        try:
            lab = requests.get(
                f"{platform.url}/user/admin/lab",
                headers={"Authorization": f"token {token}"},
                timeout=5,
                allow_redirects=False,
            )
            if lab.status_code == 200:
                return time.perf_counter() - start
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise TimeoutError(platform.log_tail())


def stop(platform: RunningPlatform, token: str) -> None:
    platform.hub_api("DELETE", "users/admin/server", token)
    for _ in range(200):
        model = platform.hub_api("GET", "users/admin", token).json()
        if not model.get("servers"):
            return
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ytung-bench-"))
    plain_cfg = tmp / "plain_config.py"
    plain_cfg.write_text(PLAIN_CONFIG)
    ytung = RunningPlatform(tmp / "ytung")
    plain = RunningPlatform(tmp / "plain", extra_env={"YTUNG_EXTRA_CONFIG": str(plain_cfg)})
    times: dict[str, list[float]] = {"YtungLocalSpawner": [], "SimpleLocalProcessSpawner": []}
    try:
        ytung.start()
        plain.start()
        tokens = {
            "YtungLocalSpawner": (ytung, ytung.token("admin", ADMIN_PASSWORD)),
            "SimpleLocalProcessSpawner": (plain, plain.token("admin", ADMIN_PASSWORD)),
        }
        # one warm-up each (first import of the Lab stack fills the OS page cache)
        for platform, token in tokens.values():
            spawn_once(platform, token)
            stop(platform, token)
        for i in range(args.rounds):
            order = list(tokens) if i % 2 == 0 else list(reversed(tokens))
            for name in order:
                platform, token = tokens[name]
                times[name].append(spawn_once(platform, token))
                stop(platform, token)
    finally:
        ytung.stop()
        plain.stop()
    ours = statistics.median(times["YtungLocalSpawner"])
    base = statistics.median(times["SimpleLocalProcessSpawner"])
    print(f"spawn → Lab ready, {args.rounds} alternating rounds each (seconds)")
    for name, values in times.items():
        print(
            f"  {name:27s} median {statistics.median(values):6.2f}  "
            + " ".join(f"{v:.2f}" for v in values)
        )
    print(
        f"  ratio YtungLocalSpawner / SimpleLocalProcessSpawner = {ours / base:.2f}  (target ≤ 1.3)"
    )


if __name__ == "__main__":
    main()
