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

**One pod per node** (runtime ``kubernetes``, a workload on N > 1 nodes): the spawner starts the
master pod (this server, node 0) and one worker pod per other node, which runs
``python -m ytung_server_ext.jobrunner --node-rank K`` (:func:`main`). Every node runs only its
own ranks (``RANK = K × per node + LOCAL_RANK``; ``MASTER_ADDR`` is the master pod's stable name
under the workload's headless service, ``MASTER_PORT`` the service's port; devices count from 0
inside a container) and writes their logs into the same ``logs/`` on the shared storage, every
line tagged ``[node K] [rank r]``. The nodes of a run talk through status files on that storage
(:class:`NodeBoard`, ``<job dir>/nodes/run-<run>-<attempt>/``, the attempt being the spawner's
token of one start of the pods), not through the pods' exits: a workload's
pods have no Kubernetes credentials (giving user code the API would let it read other
people's pods), while every pod of the run already mounts its job directory read-write. Each
worker posts ``node-<K>.json`` at once, every :data:`NODE_HEARTBEAT` seconds (a counter that
changes, so no two nodes' clocks are compared) and when a rank fails or all have ended; the
master stops its ranks as soon as a worker reports a failure, posts ``stop`` (which every
worker obeys) when any node fails, waits for every worker's final status, and counts a worker
that stays silent for :data:`NODE_SILENCE` seconds (pod killed outright) as failed; a worker
whose pod is deleted (SIGTERM) posts that failure itself, unless the master asked it to stop.
The job's exit code and message are those of the first failure of any node (by the time the
failing rank's exit was seen; cluster nodes keep their clocks in sync), its stderr tail tagged
with its node and rank; where no stderr says why, a reason id and parameters that the service
translates (``ytung_service.jobs.RUNNER_REASONS``). A status file is read as untrusted (user
code can write there), and any error of the runner itself still reports ``failed``.

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
#: seconds between two status posts of a worker node, and between two looks at the board
NODE_HEARTBEAT = 2.0
NODE_POLL = 1.0
#: a worker whose heartbeat does not change for this long is lost (its pod is gone)
NODE_SILENCE = 60.0
#: how long the master waits, after its own ranks ended, for a worker that never posted
#: (its pod still pulling an image, say), and a worker waits for the master's name
NODE_START_TIMEOUT = 600.0
#: the spawner's token of one start of a run's pods (``YTUNG_RUN_ATTEMPT``; see NodeBoard)
ATTEMPT_RE = re.compile(r"^[A-Za-z0-9]{1,64}$")
#: why a run failed where no rank's stderr says it: a message id the service translates
#: (``ytung_service.jobs.RUNNER_REASONS``) and its parameters, on a failure as ``"reason"``
NODE_LOST = "node_lost"
NODE_NEVER_STARTED = "node_never_started"
NODE_TERMINATED = "node_terminated"
NODE_BAD_STATUS = "node_bad_status"
MASTER_UNRESOLVED = "master_unresolved"
RUNNER_ERROR = "runner_error"


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
    node: int = 0


def rank_plan(
    job: dict[str, Any],
    placement: dict[str, list[int]],
    device_type: str,
    python: str,
    master_port: int,
    *,
    master_addr: str = "127.0.0.1",
    node: int | None = None,
    container_devices: bool = False,
) -> list[Rank]:
    """The processes of a run: one (single node), or ``nodes × max(1, devices per node)``
    ranks, node-major, each with its torch.distributed variables and its device.

    ``node``: only that node's ranks (a pod per node, see the module doc). ``container_devices``:
    the node's devices are numbered from 0 (a container sees only the devices its device
    plugin gave it), not by their host ids in ``placement``.
    """
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
    if node is not None and not 0 <= node < nodes:
        raise ValueError(f"node {node} is not one of the job's {nodes} nodes")
    ranks = []
    for index in range(nodes) if node is None else [node]:
        for local in range(slots):
            rank = index * slots + local
            command = job.get("master_command") if rank == 0 else job.get("worker_command")
            argv = command_argv(command, python) if command else list(contract)
            env = {
                **paths,
                "MASTER_ADDR": master_addr,
                "MASTER_PORT": str(master_port),
                "WORLD_SIZE": str(world),
                "RANK": str(rank),
                "LOCAL_RANK": str(local),
                "LOCAL_WORLD_SIZE": str(slots),
                "NODE_RANK": str(index),
                "GROUP_RANK": str(index),
            }
            if variable and per_node and container_devices:
                env[variable] = str(local)
            elif variable and index < len(node_devices) and local < len(node_devices[index]):
                env[variable] = str(node_devices[index][local])
            elif not per_node:
                env["CUDA_VISIBLE_DEVICES"] = ""
            ranks.append(Rank(rank, argv, env, index))
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

    def __init__(self, log_dir: Path, rank: int, node: int | None = None):
        self.rank = rank
        #: ``[node K] [rank r]`` when the ranks of a run live in several pods
        self.tag = f"[rank {rank}]" if node is None else f"[node {node}] [rank {rank}]"
        self.file = open(log_dir / f"rank-{rank}.log", "a", encoding="utf-8")
        self.device = log_dir / "device.log"
        self.tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
        self.first_line = asyncio.Event()

    def write(self, stream: str, text: str) -> None:
        line = f"{now_iso()} {self.tag} [{stream}] {text}\n"
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


class NodeBoard:
    """The status files through which the nodes (pods) of one run talk (see the module doc):
    ``<job dir>/nodes/run-<run>-<attempt>/node-<K>.json`` posted by node K, and ``stop``
    posted when the run ends with a failure. Every write is atomic (a temporary file, then a
    rename), so a reader never sees half a status.

    Every start of the run's pods has a directory of its own: the spawner gives all pods of
    one start the same ``YTUNG_RUN_ATTEMPT``, and a preempted run started again, or a start
    retried, has the same job and run number but a new attempt, so it never reads the ``stop``
    and final statuses an earlier start left. The master removes the other starts' directories
    (:meth:`clear_others`)."""

    def __init__(self, job_dir: Path | str, run: Any, attempt: str = ""):
        if attempt and not ATTEMPT_RE.match(attempt):
            raise ValueError(f"not a run attempt: {attempt!r}")
        self.root = Path(job_dir) / "nodes"
        name = f"run-{int(run or 1)}" + (f"-{attempt}" if attempt else "")
        self.dir = self.root / name

    def clear_others(self) -> None:
        """Remove what earlier runs and starts left (their pods are gone: a run's pods are
        deleted before the next start creates its own)."""
        try:
            entries = list(os.scandir(self.root))
        except OSError:
            return
        for entry in entries:
            if entry.name == self.dir.name or not entry.name.startswith("run-"):
                continue
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)

    def _write(self, name: str, data: dict[str, Any]) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.dir / f".{name}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.dir / name)

    def _read(self, name: str) -> dict[str, Any] | None:
        try:
            data = json.loads((self.dir / name).read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def post(self, node: int, status: dict[str, Any]) -> None:
        self._write(f"node-{int(node)}.json", {**status, "node": int(node)})

    def status(self, node: int) -> dict[str, Any] | None:
        return self._read(f"node-{int(node)}.json")

    def post_stop(self, reason: str) -> None:
        if self.stop_reason() is None:  # the first reason stays
            self._write("stop", {"reason": reason, "time": now_iso()})

    def stop_reason(self) -> str | None:
        found = self._read("stop")
        return str(found.get("reason") or "") if found is not None else None


@dataclass
class NodeWatch:
    """What the master knows of one worker node: its last heartbeat, when (by the master's own
    monotonic clock) it last changed, and its final status."""

    node: int
    beat: Any = None
    changed: float = 0.0
    final: dict[str, Any] | None = None

    def look(self, status: dict[str, Any] | None, now: float) -> None:
        if status is None:
            return
        if status.get("beat") != self.beat:
            self.beat, self.changed = status.get("beat"), now
        if status.get("state") == "exited":
            self.final = status

    def lost(self, now: float) -> bool:
        return self.beat is not None and self.final is None and now - self.changed > NODE_SILENCE


class JobRunner:
    """Runs one run of a training job beside the Jupyter server (see the module doc).

    With ``split_nodes``, only node ``node``'s ranks run here: node 0 is the master (it
    reports the job's end to the service), any other node a worker (:func:`main`; it posts its
    status on the :class:`NodeBoard` and returns its exit code).
    """

    def __init__(
        self,
        job: dict[str, Any],
        workload_id: int | None = None,
        placement: dict[str, list[int]] | None = None,
        device_type: str = "",
        report=None,
        python: str = sys.executable,
        *,
        node: int = 0,
        split_nodes: bool = False,
        master_addr: str = "127.0.0.1",
        master_port: int | None = None,
        attempt: str = "",
    ):
        self.job = job
        self.workload_id = workload_id
        self.placement = placement or {}
        self.device_type = device_type
        self.python = python
        #: ``async report(event, exit_code, message, reason)``; default: the platform service
        #: (``reason``: a failure's ``{"id", "params"}`` when no stderr says why, else None)
        self.report = report if report is not None else self._report_to_service
        self.job_dir = Path(job["job_dir"])
        self.log_dir = Path(job["log_dir"])
        self.node = int(node)
        self.split_nodes = bool(split_nodes)
        self.master_addr = master_addr
        self.master_port = master_port
        self.board = NodeBoard(self.job_dir, job.get("run"), attempt) if self.split_nodes else None
        self.procs: dict[int, asyncio.subprocess.Process] = {}
        self.logs: dict[int, RankLog] = {}
        self.exit_code: int | None = None
        self.tensorboard: asyncio.subprocess.Process | None = None
        self.runtime: dict[str, Any] = {}
        self.task: asyncio.Task | None = None
        #: the failures that ended the run (not the ranks stopped because of them), each
        #: ``{"node", "rank", "exit_code", "at", "tail"}`` and maybe ``"reason"`` (``{"id",
        #: "params"}``, when no rank's stderr says why); the first one is the job's
        self.failures: list[dict[str, Any]] = []
        self.stopping = False
        #: this node's ranks have all ended (a SIGTERM after that is no failure)
        self.ranks_done = False
        self._beating: asyncio.Task | None = None  # a worker's heartbeat
        self._reported = False
        self._beat = 0
        nodes = int(job.get("nodes") or 1)
        #: the master's view of the worker nodes
        self._watches = [NodeWatch(k) for k in range(1, nodes)] if self.split_nodes else []
        #: inside a workload's server: stop it when the service cannot be told the job ended
        self.exit_server_when_unreported = False

    @property
    def is_master(self) -> bool:
        return self.node == 0

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> asyncio.Task:
        self.task = asyncio.ensure_future(self.run())
        atexit.register(self.kill_all)
        return self.task

    def plan(self) -> list[Rank]:
        split = self.split_nodes
        port = self.master_port if self.master_port is not None else free_port()
        return rank_plan(
            self.job,
            self.placement,
            self.device_type,
            self.python,
            port,
            master_addr=self.master_addr,
            node=self.node if split else None,
            container_devices=split,
        )

    async def run(self) -> int:
        """Run this node's ranks; the master reports how the run ended. Whatever goes wrong
        in the runner itself still ends the run as ``failed`` with the reason (the service
        must learn of the end, or the devices stay held)."""
        try:
            return await self._run()
        except Exception as e:
            log.exception("the job runner failed")
            return await self._crashed(e)

    async def _crashed(self, error: Exception) -> int:
        self._signal_all(signal.SIGKILL)
        if self._beating is not None:
            self._beating.cancel()
        if self._reported:  # the report itself failed: nothing more to tell
            return self.exit_code if self.exit_code is not None else 1
        text = f"{type(error).__name__}: {error}"[:500]
        self.exit_code = 1
        reason = {"id": RUNNER_ERROR, "params": {"error": text}}
        failure = {"node": self.node, "rank": None, "exit_code": 1, "at": now_iso(), "tail": []}
        self.failures.append({**failure, "reason": reason})
        with contextlib.suppress(Exception):
            if self.board is not None and self.is_master:
                self.board.post_stop(f"the job runner of node {self.node} failed: {text}")
            elif self.board is not None:
                self._post("exited")
        if self.board is None or self.is_master:
            with contextlib.suppress(Exception):
                self.runtime.update(exit_code=1, ended=now_iso(), stderr_tail="")
                self._save_runtime()
            await self.report("failed", 1, "", reason)
        return 1

    async def _run(self) -> int:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        Path(self.job["output_path"]).mkdir(parents=True, exist_ok=True)
        ranks = self.plan()
        self.runtime = {
            "run": self.job.get("run"),
            "workload": self.workload_id,
            "device_type": self.device_type,
            "placement": self.placement,
            "started": now_iso(),
            "ranks": [{"rank": r.rank, "node": r.node, "argv": r.argv} for r in ranks],
            "tensorboard": None,
            "tensorboard_available": importlib.util.find_spec("tensorboard") is not None,
            "exit_code": None,
        }
        if self.split_nodes:
            self.runtime["nodes"] = int(self.job.get("nodes") or 1)
        if self.is_master:
            self._save_runtime()
            if self.board is not None:
                self.board.clear_others()
        for r in ranks:
            self.logs[r.rank] = RankLog(self.log_dir, r.rank, r.node if self.split_nodes else None)
            self.logs[r.rank].write(
                "platform", f"run {self.job.get('run', 1)}: {shlex.join(r.argv)}"
            )
        if self.board is not None and not self.is_master:
            self._post("running")
            self._beating = asyncio.ensure_future(self._heartbeat())
        first = ranks[0].rank
        try:
            if self.board is not None and not self.is_master:
                await self._wait_for_master(first)
            if not self.failures and not self.stopping:
                await self._launch(ranks)
                if self.is_master:
                    await self._start_tensorboard()
                metrics = asyncio.ensure_future(self._sample_metrics()) if self.is_master else None
                await self._wait_all()
                self.ranks_done = True
                if metrics is not None:
                    metrics.cancel()
        except OSError as e:  # the command could not be started at all
            self.logs[first].write("stderr", f"could not start the job: {e}")
            self._fail(first, 127)
        finally:
            if self.is_master and not self.job.get("keep_alive"):
                # kept alive for debugging: TensorBoard stays with the server (killed at exit)
                await self._stop_tensorboard()
        if self.board is not None and self.is_master:
            if self.failures:
                self.board.post_stop(self._describe(self.failures[0]))
            await self._wait_for_nodes()
        cause = min(self.failures, key=lambda f: f["at"]) if self.failures else None
        self.exit_code = int(cause["exit_code"]) if cause else self._stopped_code()
        tail = self._tail_text(cause)
        reason = cause.get("reason") if cause else None
        for rank_log in self.logs.values():
            rank_log.write("platform", f"exited with code {self.exit_code}")
            rank_log.close()
        if self._beating is not None:
            self._beating.cancel()
        if self.board is not None and not self.is_master:
            self._post("exited")
            return self.exit_code
        self.runtime.update(exit_code=self.exit_code, ended=now_iso(), stderr_tail=tail)
        self._save_runtime()
        event = "completed" if self.exit_code == 0 else "failed"
        self._reported = True
        await self.report(event, self.exit_code, tail, reason)
        return self.exit_code

    async def _launch(self, ranks: list[Rank]) -> None:
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
        by_rank = {entry["rank"]: entry for entry in self.runtime["ranks"]}
        for rank, proc in self.procs.items():
            by_rank[rank]["pid"] = proc.pid
        if self.is_master:
            self._save_runtime()

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
        """Every rank's exit; the first failure stops the others (as torchrun does) — on this
        node, and, when the nodes are pods, on every node (a failed worker, a lost worker, the
        master's ``stop``)."""
        pending = {asyncio.ensure_future(self._wait_one(r, p)) for r, p in self.procs.items()}
        watch = asyncio.ensure_future(self._watch_board()) if self.board is not None else None
        first_failure: int | None = None
        while pending:
            waiting = pending | ({watch} if watch is not None and not watch.done() else set())
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is watch:
                    self._stop_ranks(task.result())
                    continue
                pending.discard(task)
                rank, code = task.result()
                if code != 0 and not self.stopping:
                    first_failure = code
                    self._fail(rank, code)
                    if pending:
                        self._stop_ranks(
                            f"rank {rank} failed ({code}): stopping the other ranks", rank
                        )
        if watch is not None:
            watch.cancel()
        return first_failure or 0

    def _fail(self, rank: int | None, code: int, reason: dict[str, Any] | None = None) -> None:
        """Record a failure of this node (its rank ``rank``) as a cause of the run's end."""
        rank_log = self.logs.get(rank) if rank is not None else None
        failure = {
            "node": self.node,
            "rank": rank,
            "exit_code": code,
            "at": now_iso(),
            "tail": list(rank_log.tail) if rank_log else [],
        }
        if reason is not None:
            failure["reason"] = reason
        self.failures.append(failure)
        if self.board is not None:
            if self.is_master:
                self.board.post_stop(self._describe(self.failures[0]))
            else:
                self._post("failing")  # the master need not wait for the final post

    def _stop_ranks(self, message: str, rank: int | None = None) -> None:
        self.stopping = True
        running = [r for r, p in self.procs.items() if p.returncode is None]
        if not running:
            return
        for r in [rank] if rank is not None else running:
            self.logs[r].write("platform", message)
        self._signal_all(signal.SIGTERM)
        asyncio.get_running_loop().call_later(10, self._signal_all, signal.SIGKILL)

    def terminated(self, signame: str) -> None:
        """This worker's pod got SIGTERM (deleted, evicted, preempted, its node drained): its
        ranks stop, and unless the master asked for that (``stop``) or the ranks had ended, the
        node failed — the run cannot go on without it (docs/kubernetes.md)."""
        asked = self.board is not None and self.board.stop_reason() is not None
        if not (asked or self.ranks_done or self.failures or self.is_master):
            params = {"node": self.node, "signal": signame}
            self._fail(None, 128 + signal.SIGTERM, {"id": NODE_TERMINATED, "params": params})
        self._stop_ranks(f"the pod got signal {signame}")

    def _stopped_code(self) -> int:
        """No failure, but this node's ranks were stopped (the master's ``stop``): SIGTERM."""
        return 128 + signal.SIGTERM if self.stopping else 0

    def _describe(self, failure: dict[str, Any]) -> str:
        """The failure in a line of the logs and of ``stop`` (for the nodes, not for users)."""
        where = f" rank {failure['rank']}" if failure.get("rank") is not None else ""
        return f"node {failure['node']}{where} failed ({failure['exit_code']})"

    def _tail_text(self, cause: dict[str, Any] | None) -> str:
        if cause is None:
            return ""
        if not self.split_nodes:
            return "\n".join(cause["tail"])
        if not cause["tail"] and cause.get("reason"):
            return ""  # the reason says it, translated by the service
        tag = f"[node {cause['node']}]" + (
            f" [rank {cause['rank']}]" if cause.get("rank") is not None else ""
        )
        return "\n".join(f"{tag} {line}" for line in cause["tail"] or [self._describe(cause)])

    # -- the nodes of a run in pods of their own ----------------------------------------------
    def _post(self, state: str) -> None:
        self._beat += 1
        self.board.post(
            self.node,
            {
                "state": state,
                "beat": self._beat,
                "host": socket.gethostname(),
                "time": now_iso(),
                "exit_code": self.exit_code if state == "exited" else None,
                "failures": self.failures,
                "ranks": self.runtime.get("ranks", []),
            },
        )

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(NODE_HEARTBEAT)
            self._post("failing" if self.failures else "running")

    async def _wait_for_master(self, rank: int) -> None:
        """A worker: wait until the master's name resolves (its pod gets an address and a DNS
        record only once it is scheduled); a failure when it never does."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + NODE_START_TIMEOUT
        said = False
        while True:
            if self.board.stop_reason() is not None:  # the run ended before this node started
                self.stopping = True
                return
            try:
                await loop.getaddrinfo(self.master_addr, self.master_port)
                return
            except OSError as e:
                if loop.time() > deadline:
                    self.logs[rank].write(
                        "stderr", f"the master {self.master_addr} cannot be resolved: {e}"
                    )
                    params = {"node": self.node, "host": self.master_addr}
                    self._fail(rank, 1, {"id": MASTER_UNRESOLVED, "params": params})
                    return
                if not said:
                    self.logs[rank].write("platform", f"waiting for the master {self.master_addr}")
                    said = True
            await asyncio.sleep(NODE_POLL)

    def _workers(self) -> list[NodeWatch]:
        return self._watches

    def _look(self) -> str | None:
        """Read every worker's status; the reason to stop the run when one failed or is lost."""
        now = time.monotonic()
        reason = None
        for watch in self._workers():
            status = self.board.status(watch.node)
            watch.look(status, now)
            if status and status.get("failures") and watch.node not in self._failed_nodes():
                taken = self._take_failures(watch.node, status)
                self.board.post_stop(self._describe(taken[0]))
                reason = reason or f"node {watch.node} failed: stopping the ranks of every node"
            elif watch.lost(now):
                self._lose(watch)
                watch.final = {"state": "lost", "failures": []}
                reason = reason or f"node {watch.node} stopped reporting: stopping every node"
        return reason

    def _failed_nodes(self) -> set[int]:
        return {f.get("node") for f in self.failures}

    async def _watch_board(self) -> str:
        """While this node's ranks run: the reason to stop them, once there is one."""
        while True:
            await asyncio.sleep(NODE_POLL)
            if self.is_master:
                reason = self._look()
            else:
                reason = self.board.stop_reason()
                reason = f"stopped by the master: {reason}" if reason is not None else None
            if reason is not None:
                return reason

    def _take_failures(self, node: int, status: dict[str, Any]) -> list[dict[str, Any]]:
        """Node ``node``'s failures, as its status file says, in place of what the master knew
        of it; what does not read as a failure of that node is dropped, and a status with
        failures of which none is readable is itself one (``node_bad_status``)."""
        given = status.get("failures")
        taken = [f for f in (given if isinstance(given, list) else []) if _is_failure(f, node)]
        taken = [_clean_failure(f) for f in taken]
        if not taken:
            taken = [
                {
                    "node": node,
                    "rank": None,
                    "exit_code": 1,
                    "at": now_iso(),
                    "tail": [],
                    "reason": {"id": NODE_BAD_STATUS, "params": {"node": node}},
                }
            ]
        self.failures = [f for f in self.failures if f.get("node") != node] + taken
        return taken

    def _lose(self, watch: NodeWatch, *, never: bool = False) -> None:
        """Count a silent worker as failed (its pod is gone, or never started)."""
        if watch.node in self._failed_nodes():
            return
        seconds = round(NODE_START_TIMEOUT if never else NODE_SILENCE)
        reason = {
            "id": NODE_NEVER_STARTED if never else NODE_LOST,
            "params": {"node": watch.node, "seconds": seconds},
        }
        self.failures.append(
            {
                "node": watch.node,
                "rank": None,
                "exit_code": 137,
                "at": now_iso(),
                "tail": [],
                "reason": reason,
            }
        )
        self.board.post_stop(self._describe(self.failures[-1]))

    async def _wait_for_nodes(self) -> None:
        """The master, after its own ranks: every worker's final status (or its loss)."""
        started = time.monotonic()
        while True:
            self._look()
            waiting = [w for w in self._workers() if w.final is None]
            for watch in waiting:
                if watch.beat is None and time.monotonic() - started > NODE_START_TIMEOUT:
                    self._lose(watch, never=True)
                    watch.final = {"state": "lost", "failures": []}
            if all(w.final is not None for w in self._workers()):
                break
            await asyncio.sleep(NODE_POLL)
        by_rank = {entry["rank"]: entry for entry in self.runtime["ranks"]}
        for watch in self._workers():
            final = watch.final or {}
            if final.get("failures"):
                self._take_failures(watch.node, final)
            for entry in final.get("ranks") or []:
                if isinstance(entry, dict) and isinstance(entry.get("rank"), int):
                    by_rank[entry["rank"]] = {**entry, "host": final.get("host")}
        self.runtime["ranks"] = [by_rank[r] for r in sorted(by_rank)]

    def _signal_all(self, sig: int) -> None:
        for proc in self.procs.values():
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, sig)

    def kill_all(self) -> None:
        """The server is going away: stop every rank (and its children) now, and tell the
        other nodes of the run."""
        if self.board is not None and self.is_master and self.exit_code is None:
            with contextlib.suppress(OSError):
                self.board.post_stop("the master's server stopped")
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

    async def _report_to_service(
        self, event: str, exit_code: int, message: str, reason: dict[str, Any] | None = None
    ) -> None:
        from ytung_service.client import AsyncPlatformClient, PlatformError

        for attempt in range(5):
            try:
                await AsyncPlatformClient().job_event(
                    self.job["id"], event, exit_code, message, workload=self.workload_id,
                    reason=reason,
                )  # fmt: skip
                return
            except PlatformError as e:
                if e.status == 400 and reason is not None:
                    # a service that does not know this reason: the exit code still counts
                    log.warning("the service refused the reason %s: %s", reason.get("id"), e)
                    reason = None
                    continue
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


def _is_failure(value: Any, node: int) -> bool:
    """Whether ``value`` reads as a failure of node ``node`` (a status file is written by a
    worker pod, whose user code can write anything there)."""
    if not isinstance(value, dict) or type(value.get("node")) is not int or value["node"] != node:
        return False
    rank, code = value.get("rank"), value.get("exit_code")
    return (
        (rank is None or (type(rank) is int and rank >= 0))
        and type(code) is int
        and isinstance(value.get("at"), str)
        and isinstance(value.get("tail", []), list)
    )


def _clean_failure(value: dict[str, Any]) -> dict[str, Any]:
    """A failure that :func:`_is_failure` accepted, with only what the master uses: the tail's
    lines as text, and a reason only when it has the shape one has."""
    failure = {
        "node": value["node"],
        "rank": value.get("rank"),
        "exit_code": value["exit_code"],
        "at": value["at"][:64],
        "tail": [str(line)[:2000] for line in value.get("tail", [])][-STDERR_TAIL:],
    }
    reason = value.get("reason")
    if (
        isinstance(reason, dict)
        and isinstance(reason.get("id"), str)
        and isinstance(reason.get("params"), dict)
    ):
        failure["reason"] = {"id": reason["id"], "params": dict(reason["params"])}
    return failure


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


def nodes_in_pods(environ=os.environ) -> int:
    """How many pods the ranks of this workload run in: the spawner's ``YTUNG_NODE_COUNT`` on
    the ``kubernetes`` runtime (a pod per node), else 1 (every rank is a local process)."""
    if environ.get("YTUNG_RUNTIME") != "kubernetes":
        return 1
    count = environ.get("YTUNG_NODE_COUNT", "1")
    return int(count) if count.isdigit() and int(count) > 0 else 1


def runner_from_env(environ=os.environ, node: int = 0) -> JobRunner | None:
    """The runner of this server's job (``node`` 0), or of node ``node``'s ranks in a worker
    pod; None when this workload is no training job.

    ``ValueError`` when the pods do not fit the job (a node that is not one of the job's)."""
    if environ.get("YTUNG_WORKLOAD_KIND") != "training" or not environ.get("YTUNG_JOB"):
        return None
    job = json.loads(environ["YTUNG_JOB"])
    workload = environ.get("YTUNG_WORKLOAD_ID")
    pods = nodes_in_pods(environ)
    split = bool(job.get("distributed")) and pods > 1
    nodes = int(job.get("nodes") or 1)
    if split and pods != nodes:
        if node:
            raise ValueError(f"the job has {nodes} nodes but its workload {pods} pods")
        # the master still runs the job: every rank here, as on one machine
        log.error("the job has %s nodes but its workload %s pods: all ranks run here", nodes, pods)
        split = False
    if not 0 <= node < (nodes if split else 1):
        raise ValueError(f"node {node} is not one of the nodes this job runs on")
    port = environ.get("MASTER_PORT", "")
    attempt = environ.get("YTUNG_RUN_ATTEMPT", "")
    if split and attempt and not ATTEMPT_RE.match(attempt):
        if node:
            raise ValueError(f"YTUNG_RUN_ATTEMPT is not a run attempt: {attempt[:80]!r}")
        log.error("YTUNG_RUN_ATTEMPT is not a run attempt: %r; ignored", attempt[:80])
        attempt = ""
    runner = JobRunner(
        job,
        workload_id=int(workload) if workload and workload.isdigit() else None,
        placement=json.loads(environ.get("YTUNG_PLACEMENT") or "{}"),
        device_type=environ.get("YTUNG_DEVICE_TYPE", ""),
        node=node,
        split_nodes=split,
        master_addr=environ.get("MASTER_ADDR", "127.0.0.1") if split else "127.0.0.1",
        master_port=int(port) if split and port.isdigit() else None,
        attempt=attempt if split else "",
    )
    runner.exit_server_when_unreported = True
    return runner


def main(argv: list[str] | None = None, environ=os.environ) -> int:
    """``python -m ytung_server_ext.jobrunner --node-rank K``: a worker pod of a training job
    on several nodes runs node K's ranks (see the module doc) and exits with their status."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m ytung_server_ext.jobrunner",
        description="Run one node's ranks of a distributed training job (a worker pod).",
    )
    parser.add_argument(
        "--node-rank",
        type=int,
        default=None,
        help="this pod's node (1…N-1); default: $YTUNG_NODE_RANK",
    )
    args = parser.parse_args(argv)
    node = args.node_rank
    if node is None:
        value = environ.get("YTUNG_NODE_RANK", "")
        if not value.isdigit():
            parser.error("give --node-rank or set YTUNG_NODE_RANK")
        node = int(value)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        runner = runner_from_env(environ, node=node)
    except ValueError as e:
        parser.error(str(e))
    if runner is None:
        parser.error("this pod runs no training job (YTUNG_WORKLOAD_KIND, YTUNG_JOB)")
    if not runner.split_nodes or runner.is_master:
        parser.error("the master's server runs node 0; a worker pod runs nodes 1…N-1")
    return asyncio.run(_run_worker(runner))


async def _run_worker(runner: JobRunner) -> int:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        # the pod is deleted: its ranks get SIGTERM, and the run still writes how it ended
        # (a failure of the run, unless the master asked for it)
        loop.add_signal_handler(sig, runner.terminated, sig.name)
    code = await runner.run()
    log.info("node %s: exit code %s", runner.node, code)
    return code


if __name__ == "__main__":
    sys.exit(main())
