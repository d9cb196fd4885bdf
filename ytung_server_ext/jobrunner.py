"""The job runner: inside a workload of kind ``training``, run the job's command (SPEC T2, T3, T6).

The spawner passes the run spec as ``YTUNG_JOB`` (JSON, real paths; see
:func:`ytung_service.jobs.run_spec`) with ``YTUNG_WORKLOAD_KIND=training``; the server extension
then starts :class:`JobRunner` beside Jupyter, so the Lab, terminals and the proxied ports stay
reachable while the job runs. The runner

- runs the start file with the platform's contract::

      python <start_file> --k v ... [--data_path <dataset dir>] --output_path <output>
             [--checkpoint_path <checkpoint>]

  in the code directory; a distributed job runs ``nodes × max(1, devices_per_node)`` ranks with
  the ``torch.distributed`` environment (``MASTER_ADDR``, ``MASTER_PORT``, ``RANK``,
  ``WORLD_SIZE``, ``LOCAL_RANK``, ``NODE_RANK``) and one device bound per rank
  (``CUDA_VISIBLE_DEVICES`` / ``ASCEND_RT_VISIBLE_DEVICES``); the master and worker commands,
  when given, replace the contract command of rank 0 and of the other ranks (they find the
  paths in ``YTUNG_DATA_PATH``, ``YTUNG_OUTPUT_PATH``, ``YTUNG_CHECKPOINT_PATH``);
- writes ``<job dir>/logs/rank-<r>.log`` (every line ``<ISO time> [rank r] [stream] text``),
  ``logs/device.log`` (stderr lines that name a device error), ``metrics.jsonl`` (CPU and
  memory of each rank's process tree, device use where ``nvidia-smi`` answers) and
  ``runtime.json`` (ranks, ports, exit code);
- when the command ends, reports ``completed`` (exit code 0) or ``failed`` (exit code and the
  tail of stderr) to the service, which stops the server unless the job keeps it alive;
- stops every rank when the server stops (pause, stop, time limit).

:func:`rank_plan` and :func:`contract_argv` are pure (tested on literal data).
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import ctypes
import importlib.util
import json
import logging
import os
import re
import shlex
import shutil
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger("ytung.jobrunner")

DEVICE_ENV = {
    "nvidia_gpu_amd64": "CUDA_VISIBLE_DEVICES",
    "huawei_npu_arm64": "ASCEND_RT_VISIBLE_DEVICES",
}
#: stderr lines that go to the device error log as well
DEVICE_ERROR = re.compile(
    r"CUDA (error|out of memory)|cudaError|NCCL (error|WARN)|HCCL|Ascend|aclError|"
    r"device-side assert|out of memory",
    re.IGNORECASE,
)
STDERR_TAIL = 20
#: the ports of a workload the browser may reach through jupyter-server-proxy (SPEC D6)
PROXY_PORTS = (40000, 49999)
METRICS_INTERVAL = 3.0


def contract_argv(
    python: str,
    start_file: str,
    params: dict[str, str],
    data_path: str | None,
    output_path: str,
    checkpoint_path: str | None = None,
) -> list[str]:
    """The platform's command for a start file (SPEC T2)."""
    argv = [python, start_file]
    for key, value in params.items():
        argv += [f"--{key}", str(value)]
    if data_path:
        argv += ["--data_path", data_path]
    argv += ["--output_path", output_path]
    if checkpoint_path:
        argv += ["--checkpoint_path", checkpoint_path]
    return argv


def command_argv(command: str, python: str) -> list[str]:
    """A master/worker command as typed (no shell); ``python`` means this environment's."""
    argv = shlex.split(command)
    if argv and argv[0] in ("python", "python3"):
        argv[0] = python
    return argv


@dataclass
class Rank:
    """One process of a run: its rank, command line and environment additions."""

    rank: int
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)


def rank_plan(
    job: dict[str, Any],
    placement: dict[str, list[int]],
    device_type: str,
    python: str,
    master_port: int,
) -> list[Rank]:
    """The processes of a run: one (single node), or ``nodes × max(1, devices per node)``
    ranks, node-major, each with its torch.distributed variables and its device."""
    contract = contract_argv(
        python,
        job["start_file"],
        job.get("params") or {},
        job.get("data_path"),
        job["output_path"],
        job.get("checkpoint_path"),
    )
    paths = {
        "YTUNG_DATA_PATH": job.get("data_path") or "",
        "YTUNG_OUTPUT_PATH": job["output_path"],
        "YTUNG_CHECKPOINT_PATH": job.get("checkpoint_path") or "",
        "PYTHONUNBUFFERED": "1",
    }
    if not job.get("distributed"):
        return [Rank(0, contract, dict(paths))]
    nodes = int(job.get("nodes") or 1)
    per_node = int(job.get("devices_per_node") or 0)
    slots = max(1, per_node)
    # the devices of each node, in node order; CPU-only: none
    node_devices = [list(ids) for _node, ids in sorted(placement.items())] if per_node else []
    world = nodes * slots
    variable = DEVICE_ENV.get(device_type or "")
    ranks = []
    for node in range(nodes):
        for local in range(slots):
            rank = node * slots + local
            command = job.get("master_command") if rank == 0 else job.get("worker_command")
            argv = command_argv(command, python) if command else list(contract)
            env = {
                **paths,
                "MASTER_ADDR": "127.0.0.1",
                "MASTER_PORT": str(master_port),
                "WORLD_SIZE": str(world),
                "RANK": str(rank),
                "LOCAL_RANK": str(local),
                "LOCAL_WORLD_SIZE": str(slots),
                "NODE_RANK": str(node),
                "GROUP_RANK": str(node),
            }
            if variable and node < len(node_devices) and local < len(node_devices[node]):
                env[variable] = str(node_devices[node][local])
            elif not per_node:
                env["CUDA_VISIBLE_DEVICES"] = ""
            ranks.append(Rank(rank, argv, env))
    return ranks


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def free_port(low: int = 0, high: int = 0) -> int:
    """A free loopback port; one in ``low..high`` when given (the proxy opens only
    40000-49999 of a workload, SPEC D6)."""
    import random

    candidates = random.sample(range(low, high + 1), min(200, high - low + 1)) if high else [0]
    for port in candidates:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise OSError(f"no free port in {low}-{high}")


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the runner's process dies (Linux), so no rank outlives
    a server that was killed outright."""
    os.setsid()
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class RankLog:
    """The console log of one rank: tagged, timestamped lines, flushed as they come."""

    def __init__(self, log_dir: Path, rank: int):
        self.rank = rank
        self.file = open(log_dir / f"rank-{rank}.log", "a", encoding="utf-8")
        self.device = log_dir / "device.log"
        self.tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
        self.first_line = asyncio.Event()

    def write(self, stream: str, text: str) -> None:
        line = f"{now_iso()} [rank {self.rank}] [{stream}] {text}\n"
        self.file.write(line)
        self.file.flush()
        self.first_line.set()
        if stream == "stderr":
            self.tail.append(text)
            if DEVICE_ERROR.search(text):
                with open(self.device, "a", encoding="utf-8") as f:
                    f.write(line)

    def close(self) -> None:
        self.file.close()


class JobRunner:
    """Runs one run of a training job beside the Jupyter server (see the module doc)."""

    def __init__(
        self,
        job: dict[str, Any],
        workload_id: int | None = None,
        placement: dict[str, list[int]] | None = None,
        device_type: str = "",
        report=None,
        python: str = sys.executable,
    ):
        self.job = job
        self.workload_id = workload_id
        self.placement = placement or {}
        self.device_type = device_type
        self.python = python
        #: ``async report(event, exit_code, message)``; default: the platform service
        self.report = report if report is not None else self._report_to_service
        self.job_dir = Path(job["job_dir"])
        self.log_dir = Path(job["log_dir"])
        self.procs: dict[int, asyncio.subprocess.Process] = {}
        self.logs: dict[int, RankLog] = {}
        self.exit_code: int | None = None
        self.tensorboard: asyncio.subprocess.Process | None = None
        self.runtime: dict[str, Any] = {}
        self.task: asyncio.Task | None = None
        #: inside a workload's server: stop it when the service cannot be told the job ended
        self.exit_server_when_unreported = False

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> asyncio.Task:
        self.task = asyncio.ensure_future(self.run())
        atexit.register(self.kill_all)
        return self.task

    async def run(self) -> int:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        Path(self.job["output_path"]).mkdir(parents=True, exist_ok=True)
        ranks = rank_plan(self.job, self.placement, self.device_type, self.python, free_port())
        self.runtime = {
            "run": self.job.get("run"),
            "workload": self.workload_id,
            "device_type": self.device_type,
            "placement": self.placement,
            "started": now_iso(),
            "ranks": [{"rank": r.rank, "argv": r.argv} for r in ranks],
            "tensorboard": None,
            "tensorboard_available": importlib.util.find_spec("tensorboard") is not None,
            "exit_code": None,
        }
        self._save_runtime()
        for r in ranks:
            self.logs[r.rank] = RankLog(self.log_dir, r.rank)
            self.logs[r.rank].write(
                "platform", f"run {self.job.get('run', 1)}: {shlex.join(r.argv)}"
            )
        try:
            for r in ranks:
                env = {**os.environ, **r.env}
                self.procs[r.rank] = await asyncio.create_subprocess_exec(
                    *r.argv,
                    cwd=self.job["code_dir"],
                    env=env,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    preexec_fn=_die_with_parent,
                )
            for rank, proc in self.procs.items():
                self.runtime["ranks"][rank]["pid"] = proc.pid
            self._save_runtime()
            await self._start_tensorboard()
            metrics = asyncio.ensure_future(self._sample_metrics())
            self.exit_code = await self._wait_all()
            metrics.cancel()
        except OSError as e:  # the command could not be started at all
            self.logs[0].write("stderr", f"could not start the job: {e}")
            self.exit_code = 127
        finally:
            if not self.job.get("keep_alive"):
                # kept alive for debugging: TensorBoard stays with the server (killed at exit)
                await self._stop_tensorboard()
        tail = self._failure_tail()
        for rank_log in self.logs.values():
            rank_log.write("platform", f"exited with code {self.exit_code}")
            rank_log.close()
        self.runtime.update(exit_code=self.exit_code, ended=now_iso(), stderr_tail=tail)
        self._save_runtime()
        event = "completed" if self.exit_code == 0 else "failed"
        await self.report(event, self.exit_code, tail)
        return self.exit_code

    async def _pump(self, rank: int, stream_name: str, stream: asyncio.StreamReader) -> None:
        while True:
            raw = await stream.readline()
            if not raw:
                return
            self.logs[rank].write(stream_name, raw.decode("utf-8", "replace").rstrip("\r\n"))

    async def _wait_one(self, rank: int, proc: asyncio.subprocess.Process) -> tuple[int, int]:
        await asyncio.gather(
            self._pump(rank, "stdout", proc.stdout), self._pump(rank, "stderr", proc.stderr)
        )
        code = await proc.wait()
        return rank, code if code >= 0 else 128 - code

    async def _wait_all(self) -> int:
        """Every rank's exit; the first failure stops the others (as torchrun does)."""
        pending = {asyncio.ensure_future(self._wait_one(r, p)) for r, p in self.procs.items()}
        first_failure: int | None = None
        self.failed_rank: int | None = None
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                rank, code = task.result()
                if code != 0 and first_failure is None:
                    first_failure, self.failed_rank = code, rank
                    if pending:
                        self.logs[rank].write(
                            "platform", f"rank {rank} failed ({code}): stopping the other ranks"
                        )
                        self._signal_all(signal.SIGTERM)
                        asyncio.get_running_loop().call_later(10, self._signal_all, signal.SIGKILL)
        return first_failure or 0

    def _failure_tail(self) -> str:
        if not self.exit_code:
            return ""
        rank = getattr(self, "failed_rank", None)
        rank_log = self.logs.get(rank if rank is not None else 0)
        return "\n".join(rank_log.tail) if rank_log else ""

    def _signal_all(self, sig: int) -> None:
        for proc in self.procs.values():
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, sig)

    def kill_all(self) -> None:
        """The server is going away: stop every rank (and its children) now."""
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(
            _alive(p.pid) for p in self.procs.values() if p.returncode is None
        ):
            time.sleep(0.1)
        self._signal_all(signal.SIGKILL)
        if self.tensorboard is not None and self.tensorboard.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.tensorboard.kill()

    # -- extras ------------------------------------------------------------------------------
    async def _start_tensorboard(self) -> None:
        """TensorBoard on the output directory, when it is installed (reachable through
        jupyter-server-proxy at ``<server>/proxy/<port>/``)."""
        if not self.runtime["tensorboard_available"]:
            return
        port = free_port(*PROXY_PORTS)
        self.tensorboard = await asyncio.create_subprocess_exec(
            self.python, "-m", "tensorboard.main", "--logdir", self.job["output_path"],
            "--port", str(port), "--host", "127.0.0.1",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )  # fmt: skip
        self.runtime["tensorboard"] = {"port": port}
        self._save_runtime()

    async def _stop_tensorboard(self) -> None:
        if self.tensorboard is not None and self.tensorboard.returncode is None:
            self.tensorboard.terminate()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.tensorboard.wait(), 5)
        if self.runtime.get("tensorboard"):
            self.runtime["tensorboard"] = None  # the job page stops offering a dead port
            self._save_runtime()

    async def _sample_metrics(self) -> None:
        """CPU and memory of every rank's process tree (psutil), device use when known."""
        import psutil

        handles: dict[int, psutil.Process] = {}
        path = self.job_dir / "metrics.jsonl"
        while True:
            sample: dict[str, Any] = {"time": now_iso(), "ranks": []}
            for rank, proc in self.procs.items():
                if proc.returncode is not None:
                    continue
                try:
                    top = handles.setdefault(rank, psutil.Process(proc.pid))
                    tree = [top, *top.children(recursive=True)]
                    cpu = sum(p.cpu_percent(None) for p in tree)
                    rss = sum(p.memory_info().rss for p in tree)
                except psutil.Error:
                    continue
                sample["ranks"].append(
                    {"rank": rank, "cpu_percent": round(cpu, 1), "memory_bytes": rss}
                )
            sample["cpu_percent"] = round(sum(r["cpu_percent"] for r in sample["ranks"]), 1)
            sample["memory_bytes"] = sum(r["memory_bytes"] for r in sample["ranks"])
            sample["devices"] = await self._device_use()
            with open(path, "a", encoding="utf-8") as f:
                f.write(json.dumps(sample) + "\n")
            await asyncio.sleep(METRICS_INTERVAL)

    async def _device_use(self) -> list[dict[str, Any]] | None:
        """GPU utilization and memory from ``nvidia-smi`` for the bound GPUs; None where the
        runtime has no such tool (CPU, simulated devices, NPUs for now)."""
        if self.device_type != "nvidia_gpu_amd64" or not shutil.which("nvidia-smi"):
            return None
        try:
            proc = await asyncio.create_subprocess_exec(
                "nvidia-smi", "--query-gpu=index,utilization.gpu,memory.used",
                "--format=csv,noheader,nounits",
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
            out, _ = await asyncio.wait_for(proc.communicate(), 5)
        except (OSError, TimeoutError):
            return None
        bound = {i for ids in self.placement.values() for i in ids}
        devices = []
        for line in out.decode().splitlines():
            parts = [p.strip() for p in line.split(",")]
            if len(parts) == 3 and parts[0].isdigit() and (not bound or int(parts[0]) in bound):
                devices.append(
                    {
                        "index": int(parts[0]),
                        "util_percent": _num(parts[1]),
                        "memory_mib": _num(parts[2]),
                    }
                )
        return devices

    def _save_runtime(self) -> None:
        self.job_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.job_dir / "runtime.json.tmp"
        tmp.write_text(json.dumps(self.runtime, indent=1))
        os.replace(tmp, self.job_dir / "runtime.json")

    async def _report_to_service(self, event: str, exit_code: int, message: str) -> None:
        from ytung_service.client import AsyncPlatformClient, PlatformError

        for attempt in range(5):
            try:
                await AsyncPlatformClient().job_event(
                    self.job["id"], event, exit_code, message, workload=self.workload_id
                )
                return
            except PlatformError as e:
                if 400 <= e.status < 500:  # refused (an earlier run, stopped meanwhile): final
                    log.warning("the service refused the %s report: %s", event, e)
                    return
                if e.status == 0:  # no service configured at all
                    break
                log.warning("could not report %s (attempt %d): %s", event, attempt + 1, e)
                await asyncio.sleep(2 * (attempt + 1))
        if self.exit_server_when_unreported and not self.job.get("keep_alive"):
            # the service never heard of the end: end the server, so that its devices are
            # freed (the spawner reports the server's exit; runtime.json keeps the exit code)
            log.error("the end of the job could not be reported: stopping this server")
            os.kill(os.getpid(), signal.SIGTERM)


def _num(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def runner_from_env(environ=os.environ) -> JobRunner | None:
    """The runner of this server's job, or None when this workload is no training job."""
    if environ.get("YTUNG_WORKLOAD_KIND") != "training" or not environ.get("YTUNG_JOB"):
        return None
    job = json.loads(environ["YTUNG_JOB"])
    workload = environ.get("YTUNG_WORKLOAD_ID")
    runner = JobRunner(
        job,
        workload_id=int(workload) if workload and workload.isdigit() else None,
        placement=json.loads(environ.get("YTUNG_PLACEMENT") or "{}"),
        device_type=environ.get("YTUNG_DEVICE_TYPE", ""),
    )
    runner.exit_server_when_unreported = True
    return runner
