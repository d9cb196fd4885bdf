"""Training job start-up: submit → first log line on the real platform (runtime ``local``) vs
the same trivial script started with plain ``subprocess``.

One platform (hub, proxy, service) runs from the same hub config as ``make run``. Rounds
alternate: (a) ``POST /api/v1/jobs`` until the job's console log (``GET .../logs``) holds the
script's first line — admission, the named server's spawn, the job runner, the rank log;
(b) ``subprocess.Popen`` of the same command until its first stdout line. Prints both medians
and the ratio (the platform's overhead is the server spawn; what matters is that it stays a
constant few seconds, not that it matches a bare process).

    python benchmarks/jobs.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent))

from tests.harness import ADMIN_PASSWORD, RunningPlatform  # noqa: E402

SCRIPT = "import sys\nprint('first line', flush=True)\n"
PASSWORD = "Secret-pass-42"


def platform_once(platform: RunningPlatform, token: str, i: int, timeout: float = 180) -> float:
    start = time.perf_counter()
    r = platform.api(
        "POST",
        "jobs",
        token,
        json={
            "name": f"bench_{i}",
            "code_dir": "/home/bench/code",
            "start_file": "first.py",
            "output_path": f"/home/bench/out/{i}",
        },
    )
    if r.status_code != 201:
        raise RuntimeError(f"submit refused: {r.status_code} {r.text}")
    job = r.json()["id"]
    while time.perf_counter() - start < timeout:
        lines = platform.api("GET", f"jobs/{job}/logs?limit=50", token).json()["lines"]
        if any(line["text"] == "first line" for line in lines):
            elapsed = time.perf_counter() - start
            wait_over(platform, token, job)
            return elapsed
        time.sleep(0.05)
    raise TimeoutError(platform.log_tail())


def wait_over(platform: RunningPlatform, token: str, job: int) -> None:
    for _ in range(600):
        if platform.api("GET", f"jobs/{job}", token).json()["status"] in ("completed", "failed"):
            break
        time.sleep(0.1)
    for _ in range(600):  # the server is gone before the next round
        if not platform.hub_api("GET", "users/bench", token).json().get("servers"):
            return
        time.sleep(0.1)


def subprocess_once(code: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(code / "first.py"), "--output_path", "/dev/null"],
        cwd=code,
        stdout=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - start
    proc.wait()
    assert line.strip() == "first line", line
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="ytung-bench-jobs-"))
    platform = RunningPlatform(tmp / "ytung", extra_env={"YTUNG_RECONCILE_INTERVAL": "1"})
    times: dict[str, list[float]] = {"platform job": [], "plain subprocess": []}
    try:
        platform.start()
        admin = platform.token("admin", ADMIN_PASSWORD)
        platform.signup("bench", "Bench", PASSWORD)
        platform.api("POST", "vcs/default/members", admin, json={"user": "bench"})
        token = platform.token("bench", PASSWORD)
        code = platform.data_dir / "home" / "bench" / "code"
        code.mkdir(parents=True)
        (code / "first.py").write_text(SCRIPT)
        platform_once(platform, token, 0)  # warm-up: the Lab stack into the page cache
        subprocess_once(code)
        for i in range(1, args.rounds + 1):
            order = ["platform job", "plain subprocess"]
            if i % 2 == 0:
                order.reverse()
            for name in order:
                if name == "platform job":
                    times[name].append(platform_once(platform, token, i))
                else:
                    times[name].append(subprocess_once(code))
    finally:
        platform.stop()
    ours = statistics.median(times["platform job"])
    base = statistics.median(times["plain subprocess"])
    print(f"submit → first log line, {args.rounds} alternating rounds each (seconds)")
    for name, values in times.items():
        print(
            f"  {name:17s} median {statistics.median(values):6.2f}  "
            + " ".join(f"{v:.2f}" for v in values)
        )
    print(f"  ratio platform job / plain subprocess = {ours / base:.1f}")


if __name__ == "__main__":
    main()
