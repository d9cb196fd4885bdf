"""The job runner (SPEC T2, T3, T6): the contract command, the rank plan, and real runs.

The plan is pure (literal tests); the runs are real processes: a 2-rank ``torch.distributed``
training of the digits preset over gloo on CPU, a command that crashes at once, a rank that
fails while the other waits. One pod per node (runtime kubernetes): a master and a worker
runner in one test, talking through their status files — a 2-node training, a crashing
worker rank, a failing master rank, a worker that stops reporting.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from ytung_server_ext.jobrunner import JobRunner, Rank, contract_argv, rank_plan, runner_from_env

PRESET = Path(__file__).parent.parent.parent / "ytung_service" / "presets" / "digits_cnn"
PY = "/venv/bin/python"


def job_doc(tmp_path: Path, **changes) -> dict:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    doc = {
        "id": 7,
        "run": 1,
        "name": "t",
        "engine": "pytorch",
        "code_dir": str(code),
        "start_file": str(code / "train.py"),
        "output_path": str(tmp_path / "out"),
        "data_path": None,
        "checkpoint_path": None,
        "params": {},
        "distributed": False,
        "master_command": "",
        "worker_command": "",
        "keep_alive": False,
        "job_dir": str(tmp_path / "job"),
        "log_dir": str(tmp_path / "job" / "logs"),
    }
    doc.update(changes)
    return doc


def test_contract_argv():
    assert contract_argv(
        PY, "/c/train.py", {"epochs": "3", "lr": "0.1"}, "/d/1/2", "/o", "/o/ck.pt"
    ) == [
        PY, "/c/train.py", "--epochs", "3", "--lr", "0.1",
        "--data_path", "/d/1/2", "--output_path", "/o", "--checkpoint_path", "/o/ck.pt",
    ]  # fmt: skip
    # no dataset, no checkpoint: the arguments are left out
    assert contract_argv(PY, "t.py", {}, None, "/o") == [PY, "t.py", "--output_path", "/o"]


def test_single_node_plan_is_one_process():
    job = {"start_file": "/c/t.py", "output_path": "/o", "params": {"a": "1"}}
    assert rank_plan(job, {"n1": [0, 1]}, "nvidia_gpu_amd64", PY, 29500) == [
        Rank(
            0,
            [PY, "/c/t.py", "--a", "1", "--output_path", "/o"],
            {
                "YTUNG_DATA_PATH": "",
                "YTUNG_OUTPUT_PATH": "/o",
                "YTUNG_CHECKPOINT_PATH": "",
                "PYTHONUNBUFFERED": "1",
            },
        )
    ]


def test_distributed_plan_binds_one_gpu_per_rank_node_major():
    job = {
        "start_file": "/c/t.py",
        "output_path": "/o",
        "distributed": True,
        "nodes": 2,
        "devices_per_node": 2,
        "master_command": "python master.py --role m",
        "worker_command": "",
    }
    plan = rank_plan(job, {"b-node": [6, 7], "a-node": [0, 3]}, "nvidia_gpu_amd64", PY, 29501)
    assert [r.rank for r in plan] == [0, 1, 2, 3]
    assert [r.env["CUDA_VISIBLE_DEVICES"] for r in plan] == ["0", "3", "6", "7"]
    assert [(r.env["NODE_RANK"], r.env["LOCAL_RANK"]) for r in plan] == [
        ("0", "0"), ("0", "1"), ("1", "0"), ("1", "1"),
    ]  # fmt: skip
    assert {r.env["WORLD_SIZE"] for r in plan} == {"4"}
    assert {r.env["MASTER_PORT"] for r in plan} == {"29501"}
    assert plan[0].argv == [PY, "master.py", "--role", "m"]  # the master command
    assert plan[1].argv == [PY, "/c/t.py", "--output_path", "/o"]  # workers: the contract


def test_distributed_npu_and_cpu_plans():
    job = {"start_file": "t.py", "output_path": "/o", "distributed": True, "nodes": 1}
    npu = rank_plan({**job, "devices_per_node": 2}, {"npu-1": [4, 5]}, "huawei_npu_arm64", PY, 1)
    assert [r.env["ASCEND_RT_VISIBLE_DEVICES"] for r in npu] == ["4", "5"]
    cpu = rank_plan({**job, "nodes": 3, "devices_per_node": 0}, {}, "", PY, 1)
    assert [r.env["RANK"] for r in cpu] == ["0", "1", "2"]
    assert {r.env["CUDA_VISIBLE_DEVICES"] for r in cpu} == {""}


def test_runner_from_env_only_for_training():
    assert runner_from_env({"YTUNG_WORKLOAD_KIND": "devenv", "YTUNG_JOB": "{}"}) is None
    assert runner_from_env({"YTUNG_WORKLOAD_KIND": "training"}) is None
    env = {
        "YTUNG_WORKLOAD_KIND": "training",
        "YTUNG_JOB": json.dumps({"job_dir": "/j", "log_dir": "/j/logs"}),
        "YTUNG_WORKLOAD_ID": "12",
        "YTUNG_PLACEMENT": '{"n": [1]}',
        "YTUNG_DEVICE_TYPE": "nvidia_gpu_amd64",
    }
    runner = runner_from_env(env)
    assert (runner.workload_id, runner.placement, runner.device_type) == (
        12,
        {"n": [1]},
        "nvidia_gpu_amd64",
    )


class Reports(list):
    """What a runner reported: ``(event, code, tail)``, and the reason when it gave one."""

    async def __call__(self, event, code, message, reason=None):
        self.append((event, code, message) if reason is None else (event, code, message, reason))


def log_lines(tmp_path: Path, rank: int) -> list[str]:
    return (tmp_path / "job" / "logs" / f"rank-{rank}.log").read_text().splitlines()


@pytest.mark.slow
async def test_two_ranks_train_the_digits_cnn_over_gloo(tmp_path):
    """T3 for real: two processes, torch.distributed over gloo on CPU, one model."""
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text((PRESET / "train.py").read_text())
    job = job_doc(
        tmp_path,
        distributed=True,
        nodes=2,
        devices_per_node=0,
        params={"epochs": "3", "batch_size": "32"},
    )
    reports = Reports()
    runner = JobRunner(job, workload_id=3, report=reports, python=sys.executable)
    code_ = await runner.run()
    logs = {r: log_lines(tmp_path, r) for r in (0, 1)}
    assert code_ == 0, logs
    assert reports == [("completed", 0, "")]
    for rank in (0, 1):
        text = "\n".join(logs[rank])
        assert f"[rank {rank}] [stdout] rank {rank}/2:" in text
        assert f"[rank {rank}] [stdout] epoch 3/3" in text
        assert logs[rank][-1].endswith(f"[rank {rank}] [platform] exited with code 0")
        # every line: ISO time, rank tag, stream
        assert all(line[:4] == "2026" or line[:2] == "20" for line in logs[rank])
    metrics = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and metrics["accuracy"] > 0.8
    assert sorted(p.name for p in (tmp_path / "out").glob("checkpoint-*.pt")) == [
        "checkpoint-epoch1.pt",
        "checkpoint-epoch2.pt",
        "checkpoint-epoch3.pt",
    ]
    runtime = json.loads((tmp_path / "job" / "runtime.json").read_text())
    assert runtime["exit_code"] == 0 and [r["rank"] for r in runtime["ranks"]] == [0, 1]
    assert runtime["ranks"][0]["argv"][-2:] == ["--output_path", str(tmp_path / "out")]


async def test_a_command_that_crashes_reports_failed_with_the_tail_of_stderr(tmp_path):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "train.py").write_text(
        "import sys\nprint('starting')\nraise SystemExit('boom: CUDA error: out of memory')\n"
    )
    reports = Reports()
    runner = JobRunner(job_doc(tmp_path), workload_id=1, report=reports, python=sys.executable)
    assert await runner.run() == 1
    [(event, code, tail)] = reports
    assert (event, code) == ("failed", 1) and "boom: CUDA error" in tail
    lines = log_lines(tmp_path, 0)
    assert any(line.endswith("[rank 0] [stdout] starting") for line in lines)
    # the device error log keeps the stderr lines that name a device error
    device = (tmp_path / "job" / "logs" / "device.log").read_text()
    assert "[rank 0] [stderr] boom: CUDA error: out of memory" in device


async def test_a_failing_rank_stops_the_others(tmp_path):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "train.py").write_text(
        "import os, sys, time\n"
        "if os.environ['RANK'] == '1':\n"
        "    print('rank 1 gives up', file=sys.stderr); sys.exit(3)\n"
        "time.sleep(600)\n"
    )
    job = job_doc(tmp_path, distributed=True, nodes=2, devices_per_node=0)
    reports = Reports()
    runner = JobRunner(job, workload_id=1, report=reports, python=sys.executable)
    assert await runner.run() == 3
    assert reports[0][:2] == ("failed", 3) and "rank 1 gives up" in reports[0][2]
    assert any("[platform] rank 1 failed (3)" in line for line in log_lines(tmp_path, 1))
    # rank 0 was stopped (SIGTERM: 128 + 15)
    assert log_lines(tmp_path, 0)[-1].endswith("exited with code 3")


async def test_a_missing_interpreter_is_a_failure_not_a_crash(tmp_path):
    (tmp_path / "code").mkdir()
    reports = Reports()
    runner = JobRunner(
        job_doc(tmp_path), workload_id=1, report=reports, python=str(tmp_path / "no-python")
    )
    assert await runner.run() == 127
    assert reports[0][0] == "failed" and "could not start the job" in reports[0][2]


def test_tensorboard_gets_a_port_the_proxy_opens():
    from ytung_server_ext.jobrunner import PROXY_PORTS, free_port

    assert PROXY_PORTS == (40000, 49999)
    assert all(40000 <= free_port(*PROXY_PORTS) <= 49999 for _ in range(5))


@pytest.mark.slow
async def test_tensorboard_serves_the_output_dir_while_the_job_runs(tmp_path):
    """T6: with TensorBoard installed (the ``ml`` extra), a running job has one on a port
    40000-49999 (what jupyter-server-proxy opens); it goes when the job ends."""
    import asyncio

    import requests

    pytest.importorskip("tensorboard")
    (tmp_path / "code").mkdir()
    release = tmp_path / "release"
    (tmp_path / "code" / "train.py").write_text(
        "import pathlib, time\n"
        f"while not pathlib.Path({str(release)!r}).exists():\n"
        "    time.sleep(0.2)\n"
    )
    runner = JobRunner(job_doc(tmp_path), workload_id=1, report=Reports(), python=sys.executable)
    task = asyncio.ensure_future(runner.run())
    runtime_file = tmp_path / "job" / "runtime.json"
    answer = None
    try:
        for _ in range(600):  # TensorBoard takes a few seconds to import and listen
            await asyncio.sleep(0.2)
            if not runtime_file.exists():
                continue
            board = json.loads(runtime_file.read_text()).get("tensorboard")
            if not board:
                continue
            assert 40000 <= board["port"] <= 49999
            try:
                answer = await asyncio.to_thread(
                    requests.get, f"http://127.0.0.1:{board['port']}/", timeout=2
                )
                break
            except requests.ConnectionError:
                continue
        assert answer is not None and answer.status_code == 200
        assert "TensorBoard" in answer.text or "tensorboard" in answer.text
    finally:
        release.write_text("go")
        assert await task == 0
    assert runner.tensorboard.returncode is not None
    assert json.loads(runtime_file.read_text())["tensorboard"] is None


# --- one pod per node (runtime kubernetes): each node's runner runs only its ranks ----------
def test_a_nodes_plan_is_its_ranks_with_container_device_numbers():
    job = {
        "start_file": "/c/t.py",
        "output_path": "/o",
        "distributed": True,
        "nodes": 3,
        "devices_per_node": 2,
        "master_command": "",
        "worker_command": "python w.py",
    }
    placement = {"gpu-1": [4, 5], "gpu-2": [6, 7], "gpu-3": [0, 1]}
    plan = rank_plan(
        job,
        placement,
        "nvidia_gpu_amd64",
        PY,
        29500,
        master_addr="ytung-9-0.ytung-9.ai.svc",
        node=1,
        container_devices=True,
    )
    assert [(r.rank, r.node) for r in plan] == [(2, 1), (3, 1)]
    assert [r.env["CUDA_VISIBLE_DEVICES"] for r in plan] == ["0", "1"]  # counted in the pod
    assert [(r.env["RANK"], r.env["LOCAL_RANK"], r.env["NODE_RANK"]) for r in plan] == [
        ("2", "0", "1"), ("3", "1", "1"),
    ]  # fmt: skip
    assert {r.env["WORLD_SIZE"] for r in plan} == {"6"}
    assert {r.env["MASTER_ADDR"] for r in plan} == {"ytung-9-0.ytung-9.ai.svc"}
    assert plan[0].argv == [PY, "w.py"]  # the workers' command (T3)
    master = rank_plan(job, placement, "nvidia_gpu_amd64", PY, 1, node=0, container_devices=True)
    assert master[0].argv[1:] == ["/c/t.py", "--output_path", "/o"]
    with pytest.raises(ValueError, match="node 3"):
        rank_plan(job, placement, "", PY, 1, node=3)


KUBE_ENV = {
    "YTUNG_RUNTIME": "kubernetes",
    "YTUNG_WORKLOAD_KIND": "training",
    "YTUNG_NODE_COUNT": "2",
    "MASTER_ADDR": "ytung-5-0.ytung-5.ai.svc",
    "MASTER_PORT": "29511",
}


def test_runner_from_env_splits_the_nodes_only_on_kubernetes(tmp_path, capsys):
    from ytung_server_ext import jobrunner

    job = job_doc(tmp_path, distributed=True, nodes=2, devices_per_node=0)
    env = {**KUBE_ENV, "YTUNG_JOB": json.dumps(job)}
    master = runner_from_env(env)
    assert (master.split_nodes, master.node, master.is_master) == (True, 0, True)
    assert (master.master_addr, master.master_port) == ("ytung-5-0.ytung-5.ai.svc", 29511)
    worker = runner_from_env(env, node=1)
    assert (worker.split_nodes, worker.is_master) == (True, False)
    with pytest.raises(ValueError, match="node 2"):
        runner_from_env(env, node=2)
    # local runtime, or one pod: every rank here, as before
    for changes in ({"YTUNG_RUNTIME": "local"}, {"YTUNG_NODE_COUNT": "1"}):
        runner = runner_from_env({**env, **changes})
        assert not runner.split_nodes and runner.master_addr == "127.0.0.1"
        assert runner.master_port is None
    # the worker entry point refuses what it cannot run, with the reason
    for argv, environ, message in (
        (["--node-rank", "0"], env, "master's server runs node 0"),
        (["--node-rank", "1"], {**env, "YTUNG_WORKLOAD_KIND": "devenv"}, "no training job"),
        ([], env, "--node-rank"),
    ):
        with pytest.raises(SystemExit):
            jobrunner.main(argv, environ)
        assert message in capsys.readouterr().err


def two_nodes(
    tmp_path: Path, script: str, attempt: str = "", **changes
) -> tuple[JobRunner, JobRunner, Reports]:
    """The master (node 0) and a worker (node 1) of one run, as their two pods run them."""
    from ytung_server_ext.jobrunner import free_port

    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "train.py").write_text(script)
    job = job_doc(tmp_path, distributed=True, nodes=2, devices_per_node=0, **changes)
    reports = Reports()
    port = free_port()
    common = dict(python=sys.executable, split_nodes=True, master_port=port, attempt=attempt)
    master = JobRunner(job, workload_id=5, report=reports, node=0, **common)
    worker = JobRunner(job, workload_id=5, report=Reports(), node=1, **common)
    return master, worker, reports


@pytest.mark.slow
async def test_two_nodes_train_the_digits_cnn_each_with_its_own_runner(tmp_path):
    """Node 0 (the master's server) and node 1 (a worker pod) each run their rank; one model
    trains over gloo; the logs of both nodes land in the job's logs, tagged per node."""
    import asyncio

    master, worker, reports = two_nodes(
        tmp_path, (PRESET / "train.py").read_text(), params={"epochs": "2", "batch_size": "32"}
    )
    codes = await asyncio.gather(master.run(), worker.run())
    logs = {r: log_lines(tmp_path, r) for r in (0, 1)}
    assert codes == [0, 0], logs
    assert reports == [("completed", 0, "")]  # only the master reports
    for rank in (0, 1):
        text = "\n".join(logs[rank])
        assert f"[node {rank}] [rank {rank}] [stdout] rank {rank}/2:" in text
        assert f"[node {rank}] [rank {rank}] [stdout] epoch 2/2" in text
    assert json.loads((tmp_path / "out" / "metrics.json").read_text())["world_size"] == 2
    # the service's log reader reads the node tag
    from ytung_service.jobs import read_log

    page = read_log(tmp_path / "job", limit=5000)
    assert {(line["node"], line["rank"]) for line in page["lines"]} == {(0, 0), (1, 1)}
    # runtime.json has the ranks of every node
    runtime = json.loads((tmp_path / "job" / "runtime.json").read_text())
    assert [(r["rank"], r["node"]) for r in runtime["ranks"]] == [(0, 0), (1, 1)]
    assert runtime["exit_code"] == 0 and runtime["nodes"] == 2
    final = json.loads((tmp_path / "job" / "nodes" / "run-1" / "node-1.json").read_text())
    assert (final["state"], final["exit_code"], final["failures"]) == ("exited", 0, [])


WAIT_OR_FAIL = """\
import os, sys, time
if os.environ["RANK"] == os.environ.get("FAILING_RANK", "1"):
    print("rank", os.environ["RANK"], "gives up: loss is NaN", file=sys.stderr)
    sys.exit(3)
time.sleep(600)
"""


async def test_a_crashing_worker_rank_fails_the_job_with_its_stderr(tmp_path):
    """The worker's rank crashes: the master stops its own ranks at once (the worker's status
    says so), and the job fails with the worker rank's exit code and stderr, tagged."""
    import asyncio

    master, worker, reports = two_nodes(tmp_path, WAIT_OR_FAIL)
    codes = await asyncio.gather(master.run(), worker.run())
    assert codes == [3, 3]
    [(event, code, tail)] = reports
    assert (event, code) == ("failed", 3)
    assert tail == "[node 1] [rank 1] rank 1 gives up: loss is NaN"
    master_log = log_lines(tmp_path, 0)
    assert any("node 1 failed: stopping the ranks of every node" in x for x in master_log)
    assert master_log[-1].endswith("[node 0] [rank 0] [platform] exited with code 3")
    runtime = json.loads((tmp_path / "job" / "runtime.json").read_text())
    assert runtime["exit_code"] == 3 and "loss is NaN" in runtime["stderr_tail"]


async def test_a_failing_master_rank_stops_the_workers(tmp_path, monkeypatch):
    import asyncio

    monkeypatch.setenv("FAILING_RANK", "0")
    master, worker, reports = two_nodes(tmp_path, WAIT_OR_FAIL)
    codes = await asyncio.gather(master.run(), worker.run())
    assert codes == [3, 143]  # the worker's rank was stopped (SIGTERM), not a cause
    assert reports == [("failed", 3, "[node 0] [rank 0] rank 0 gives up: loss is NaN")]
    stop = json.loads((tmp_path / "job" / "nodes" / "run-1" / "stop").read_text())
    assert stop["reason"] == "node 0 rank 0 failed (3)"
    assert any(
        "stopped by the master: node 0 rank 0 failed (3)" in x for x in log_lines(tmp_path, 1)
    )


async def test_a_worker_that_stops_reporting_fails_the_job(tmp_path, monkeypatch):
    """A worker pod that vanishes (deleted, evicted, OOM-killed) posts nothing more: after
    NODE_SILENCE without a new heartbeat the master fails the run and says which node."""
    from ytung_server_ext import jobrunner

    monkeypatch.setattr(jobrunner, "NODE_SILENCE", 1.0)
    monkeypatch.setattr(jobrunner, "NODE_POLL", 0.1)
    master, _worker, reports = two_nodes(tmp_path, WAIT_OR_FAIL.replace('"1")', '"none")'))
    board = jobrunner.NodeBoard(tmp_path / "job", 1)
    board.post(1, {"state": "running", "beat": 1})  # then the pod is gone
    assert await master.run() == 137
    # no stderr says why: a reason the service translates (node, seconds), not English text
    assert reports == [
        ("failed", 137, "", {"id": "node_lost", "params": {"node": 1, "seconds": 1}})
    ]
    assert board.stop_reason() == "node 1 failed (137)"


RANK_DONE = """\
import os, pathlib, time
time.sleep(float(os.environ.get("RANK_SECONDS", "1")))
pathlib.Path(os.environ["YTUNG_OUTPUT_PATH"], "rank-" + os.environ["RANK"]).write_text("done")
"""


async def test_a_new_start_of_the_same_run_ignores_what_an_earlier_start_left(tmp_path):
    """A preempted run started again (or a retried start) has the same job and run number:
    the stop and final status of the earlier start must not end the new one."""
    from ytung_server_ext import jobrunner

    earlier = jobrunner.NodeBoard(tmp_path / "job", 1, "a1b2")
    earlier.post(1, {"state": "exited", "beat": 9, "exit_code": 0, "failures": []})
    earlier.post_stop("node 0 failed (143)")
    no_attempt = jobrunner.NodeBoard(tmp_path / "job", 1)  # a start before attempts existed
    no_attempt.post_stop("the master's server stopped")
    master, worker, reports = two_nodes(tmp_path, RANK_DONE, attempt="c3d4")
    assert worker.board.dir.name == "run-1-c3d4" != earlier.dir.name
    codes = await asyncio.gather(master.run(), worker.run())
    assert codes == [0, 0] and reports == [("completed", 0, "")]
    # both ranks ran to their end: the worker was not stopped by the old "stop"
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {"rank-0", "rank-1"}
    assert not any("stopped by the master" in x for x in log_lines(tmp_path, 1))
    # the master removed what the earlier starts left
    assert sorted(p.name for p in (tmp_path / "job" / "nodes").iterdir()) == ["run-1-c3d4"]
    with pytest.raises(ValueError, match="not a run attempt"):
        jobrunner.NodeBoard(tmp_path / "job", 1, "../x")


async def test_a_worker_waiting_for_the_master_obeys_stop(tmp_path, monkeypatch):
    """The master's name resolves, but the run was already stopped: the worker never starts
    its ranks."""
    from ytung_server_ext import jobrunner

    monkeypatch.setattr(jobrunner, "NODE_POLL", 0.05)
    _master, worker, _reports = two_nodes(tmp_path, RANK_DONE)
    jobrunner.NodeBoard(tmp_path / "job", 1).post_stop("node 0 rank 0 failed (1)")
    assert await worker.run() == 143
    assert worker.procs == {} and not (tmp_path / "out" / "rank-1").exists()


def worker_env(tmp_path: Path, job: dict, port: int, attempt: str) -> dict:
    import os

    return {
        **os.environ,
        **KUBE_ENV,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "YTUNG_JOB": json.dumps(job),
        "YTUNG_WORKLOAD_ID": "5",
        "YTUNG_RUN_ATTEMPT": attempt,
        "YTUNG_NODE_RANK": "1",
    }


async def test_a_worker_pod_deleted_while_its_ranks_run_fails_the_job(tmp_path, monkeypatch):
    """The worker pod's process gets SIGTERM (pod deleted, evicted, preempted): its ranks stop
    and the job fails with code 143 and a reason that says so — not "completed"."""
    import os
    import signal
    import subprocess

    from ytung_server_ext import jobrunner

    monkeypatch.setattr(jobrunner, "NODE_POLL", 0.1)
    monkeypatch.setenv("RANK_SECONDS", "600")
    master, _worker, reports = two_nodes(tmp_path, RANK_DONE, attempt="e5f6")
    env = worker_env(tmp_path, master.job, master.master_port, "e5f6")
    repo = str(Path(__file__).parent.parent.parent)
    env["PYTHONPATH"] = repo + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ytung_server_ext.jobrunner", "--node-rank", "1"], env=env
    )
    try:
        running = asyncio.ensure_future(master.run())
        log1 = tmp_path / "job" / "logs" / "rank-1.log"
        while not (log1.exists() and "[platform] run 1:" in log1.read_text()):
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(running, 120) == 143
        assert proc.wait(60) == 143
    finally:
        proc.kill()
    reason = {"id": "node_terminated", "params": {"node": 1, "signal": "SIGTERM"}}
    assert reports == [("failed", 143, "", reason)]
    assert any("the pod got signal SIGTERM" in x for x in log_lines(tmp_path, 1))


async def test_a_worker_told_to_stop_then_deleted_is_no_failure_of_its_own(tmp_path):
    _master, worker, _reports = two_nodes(tmp_path, RANK_DONE)
    worker.board.post_stop("node 0 rank 0 failed (3)")
    worker.terminated("SIGTERM")
    assert worker.failures == [] and worker.stopping
    _master, worker, _reports = two_nodes(tmp_path, RANK_DONE)
    worker.board.dir = tmp_path / "job" / "nodes" / "other"
    worker.terminated("SIGTERM")
    [failure] = worker.failures
    assert (failure["node"], failure["rank"], failure["exit_code"]) == (1, None, 143)


@pytest.mark.parametrize(
    "failures",
    [
        [{"at": 5, "node": 1, "rank": 1, "exit_code": 1, "tail": []}],  # "at" no text
        [{"at": "t", "node": 1, "rank": 1, "exit_code": "1", "tail": []}],  # code no number
        [{"at": "t", "node": 0, "rank": 0, "exit_code": 1, "tail": []}],  # another node's
        [{"at": "t", "node": True, "rank": 1, "exit_code": 1, "tail": []}],
        "failed",
        [1, None],
    ],
)
async def test_a_malformed_worker_status_fails_the_job_instead_of_the_master(
    tmp_path, monkeypatch, failures
):
    """A worker's status file is written in a pod whose user code can write anything there:
    the master still reports the run's end, and says the node's status was unreadable."""
    from ytung_server_ext import jobrunner

    monkeypatch.setattr(jobrunner, "NODE_POLL", 0.05)
    master, _worker, reports = two_nodes(tmp_path, RANK_DONE)
    board = jobrunner.NodeBoard(tmp_path / "job", 1)
    board.post(1, {"state": "exited", "beat": 1, "failures": failures, "ranks": [{"rank": "x"}]})
    assert await master.run() == 1
    reason = {"id": "node_bad_status", "params": {"node": 1}}
    assert reports == [("failed", 1, "", reason)]


async def test_a_readable_worker_failure_keeps_its_tail_and_drops_the_rest(tmp_path, monkeypatch):
    from ytung_server_ext import jobrunner

    monkeypatch.setattr(jobrunner, "NODE_POLL", 0.05)
    master, _worker, reports = two_nodes(tmp_path, RANK_DONE)
    good = {"at": "2026-01-01T00:00:00Z", "node": 1, "rank": 1, "exit_code": 4, "tail": ["oops"]}
    bad = {"at": "2000-01-01T00:00:00Z", "node": 0, "rank": 0, "exit_code": 9, "tail": ["lie"]}
    jobrunner.NodeBoard(tmp_path / "job", 1).post(
        1, {"state": "exited", "beat": 1, "failures": [bad, good]}
    )
    assert await master.run() == 4
    assert reports == [("failed", 4, "[node 1] [rank 1] oops")]


async def test_an_error_in_the_runner_still_reports_failed(tmp_path, monkeypatch):
    """Whatever breaks in the runner itself, the service hears that the run ended (else the
    devices stay held), with the error as the reason."""
    from ytung_server_ext import jobrunner

    master, _worker, reports = two_nodes(tmp_path, RANK_DONE)

    async def broken(self):
        raise KeyError("exit_code")

    monkeypatch.setattr(jobrunner.JobRunner, "_wait_for_nodes", broken)
    assert await master.run() == 1
    reason = {"id": "runner_error", "params": {"error": "KeyError: 'exit_code'"}}
    assert reports == [("failed", 1, "", reason)]
    assert (
        jobrunner.NodeBoard(tmp_path / "job", 1)
        .stop_reason()
        .startswith("the job runner of node 0 failed")
    )


def test_runner_from_env_takes_the_run_attempt(tmp_path):
    job = job_doc(tmp_path, distributed=True, nodes=2, devices_per_node=0)
    env = {**KUBE_ENV, "YTUNG_JOB": json.dumps(job), "YTUNG_RUN_ATTEMPT": "0a1b"}
    master, worker = runner_from_env(env), runner_from_env(env, node=1)
    assert master.board.dir == worker.board.dir == tmp_path / "job" / "nodes" / "run-1-0a1b"
    bad = {**env, "YTUNG_RUN_ATTEMPT": "../../x"}
    with pytest.raises(ValueError, match="YTUNG_RUN_ATTEMPT"):
        runner_from_env(bad, node=1)
    # the master still runs the job (its pods' env is the spawner's), on the plain directory
    assert runner_from_env(bad).board.dir.name == "run-1"
