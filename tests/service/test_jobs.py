"""The training domain (SPEC T1–T7): the form, runs, logs, parameter sets, presets.

Pure functions on literal data and a real data root in ``tmp_path``; the preset model is
trained for real and must reach its listed quality.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ytung_service import jobs, orm
from ytung_service.errors import DomainError


@pytest.fixture
def root(tmp_path):
    code = tmp_path / "home" / "ann" / "code"
    code.mkdir(parents=True)
    (code / "train.py").write_text("print('hi')\n")
    (code / "notes.txt").write_text("x")
    (tmp_path / "home" / "ann" / "other.py").write_text("")
    (tmp_path / "home" / "bob" / "code").mkdir(parents=True)
    (tmp_path / "home" / "bob" / "code" / "train.py").write_text("")
    return tmp_path


def form(**changes):
    return {
        "name": "mnist_1",
        "code_dir": "/home/ann/code",
        "start_file": "train.py",
        "output_path": "/home/ann/out",
        "params": {"epochs": 3, "--lr": "0.1", "fast": True},
        **changes,
    }


def test_a_valid_form(root):
    spec, real = jobs.validate_form(None, "ann", form(devices=2, device_type="gpu"), root)
    assert spec == {
        "name": "mnist_1",
        "description": "",
        "engine": "pytorch",
        "code_dir": "/home/ann/code",
        "start_file": "train.py",
        "output_path": "/home/ann/out",
        "dataset": None,
        "params": {"epochs": "3", "lr": "0.1", "fast": "true"},
        "distributed": False,
        "nodes": 1,
        "devices_per_node": 2,
        "device_type": "gpu",
        "master_command": "",
        "worker_command": "",
        "vc": None,
        "preemptible": False,
        "keep_alive": False,
    }
    home = (root / "home" / "ann").resolve()
    assert real == {
        "code_dir": str(home / "code"),
        "start_file": str(home / "code" / "train.py"),
        "output_path": str(home / "out"),
        "data_path": None,
    }


def test_distributed_form(root):
    spec, _ = jobs.validate_form(
        None,
        "ann",
        form(distributed=True, nodes=2, devices_per_node=0, master_command="python train.py"),
        root,
    )
    assert (spec["nodes"], spec["devices_per_node"], spec["device_type"]) == (2, 0, None)
    assert spec["master_command"] == "python train.py"


@pytest.mark.parametrize(
    "changes, status, message",
    [
        ({"name": "has space"}, 400, "A job name is 1-64 English letters"),
        ({"name": "x" * 65}, 400, "A job name is 1-64 English letters"),
        ({"name": None}, 400, "A job name"),
        ({"code_dir": "/home/bob/code"}, 400, "must stay inside /home/ann"),
        ({"code_dir": "../bob/code"}, 400, "must stay inside"),
        ({"code_dir": "/home/ann/nothing"}, 400, "File or path does not exist"),
        ({"code_dir": ""}, 400, "code directory is required"),
        ({"start_file": "missing.py"}, 400, "File or path does not exist: missing.py"),
        ({"start_file": "../other.py"}, 400, "inside the code directory"),
        ({"start_file": "/home/ann/other.py"}, 400, "inside the code directory"),
        ({"start_file": "/home/bob/code/train.py"}, 400, "must stay inside /home/ann"),
        ({"start_file": "notes.txt"}, 400, "must be a Python file"),
        ({"output_path": "/tmp/x"}, 400, "must stay inside /home/ann"),
        ({"output_path": "/home/ann/code/train.py"}, 400, "is a file"),
        ({"engine": "caffe"}, 400, "Unknown engine caffe"),
        ({"params": {"data_path": "/x"}}, 400, "The platform sets --data_path itself"),
        ({"params": {"a b": "1"}}, 400, "Invalid run parameter name"),
        ({"params": {"a": None}}, 400, "must be text"),
        ({"params": "epochs=3"}, 400, "Run parameters must be an object"),
        ({"devices": -1}, 400, "devices must be a whole number"),
        ({"distributed": True, "nodes": 0}, 400, "nodes must be a whole number"),
        ({"keep_alive": "yes"}, 400, "'keep_alive' must be true or false"),
    ],
)
def test_bad_forms(root, changes, status, message):
    with pytest.raises(DomainError) as e:
        jobs.validate_form(None, "ann", form(**changes), root)
    assert e.value.status == status
    assert message in str(e.value)


def test_run_spec_and_workload_body(root):
    spec, real = jobs.validate_form(None, "ann", form(dataset=None), root)
    run = jobs.run_spec(5, 2, spec, real, root, checkpoint="/c.pt")
    assert run["id"] == 5 and run["run"] == 2 and run["checkpoint_path"] == "/c.pt"
    assert run["log_dir"] == str(root / "jobs" / "5" / "logs")
    body = jobs.workload_body({**spec, "dataset": {"id": 3, "version": 1}}, run)
    assert body == {
        "kind": "training",
        "name": "mnist_1",
        "vc": None,
        "device_type": None,
        "nodes": 1,
        "devices_per_node": 0,
        "preemptible": False,
        "user_options": {"job": run, "dataset": {"id": 3, "version": 1}},
    }


def test_latest_checkpoint(tmp_path):
    assert jobs.latest_checkpoint(tmp_path / "none") is None
    assert jobs.latest_checkpoint(tmp_path) is None
    for i, name in enumerate(["a.pt", "sub/b.ckpt", "c.pth", "log.txt"]):
        path = tmp_path / name
        path.parent.mkdir(exist_ok=True)
        path.write_text("x")
        os.utime(path, (1000 + i, 1000 + i))
    assert jobs.latest_checkpoint(tmp_path) == tmp_path / "c.pth"


def test_read_log_merges_ranks_in_time_order_and_pages(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "rank-0.log").write_text(
        "2026-01-01T00:00:01Z [rank 0] [stdout] a\n"
        "2026-01-01T00:00:03Z [rank 0] [stderr] c\n"
        "garbage line\n"
    )
    (logs / "rank-1.log").write_text("2026-01-01T00:00:02Z [rank 1] [stdout] b b\n")
    (logs / "rank-x.log").write_text("not a rank\n")
    page = jobs.read_log(tmp_path, offset=0, limit=2)
    assert page["ranks"] == [0, 1] and page["total"] == 3
    assert [(x["rank"], x["text"]) for x in page["lines"]] == [(0, "a"), (1, "b b")]
    assert [x["text"] for x in jobs.read_log(tmp_path, offset=2, limit=2)["lines"]] == ["c"]
    one = jobs.read_log(tmp_path, rank=1)
    assert one["total"] == 1 and one["lines"][0] == {
        "time": "2026-01-01T00:00:02Z",
        "rank": 1,
        "stream": "stdout",
        "text": "b b",
    }
    assert jobs.read_log(tmp_path / "missing")["total"] == 0


@pytest.fixture
def secrets_outside(tmp_path):
    """A data root with a job directory and files the service can read but the job must not:
    the database and another user's home, with log-shaped content."""
    data = tmp_path / "data"
    job = jobs.job_dir(data, 7)
    (job / "logs").mkdir(parents=True)
    db = data / "ytung.sqlite"
    db.write_text("2026-01-01T00:00:01Z [rank 0] [stderr] SECRET database\n")
    other = data / "home" / "bob"
    other.mkdir(parents=True)
    (other / "rank-0.log").write_text("2026-01-01T00:00:01Z [rank 0] [stdout] SECRET bob\n")
    (other / "device.log").write_text("SECRET bob device\n")
    (other / "metrics.jsonl").write_text('{"secret": "bob"}\n')
    (other / "runtime.json").write_text('{"secret": "bob"}')
    return job, db, other


def test_a_job_cannot_make_the_service_read_through_file_links(secrets_outside):
    job, db, other = secrets_outside
    (job / "logs" / "device.log").symlink_to(db)
    (job / "logs" / "rank-0.log").symlink_to(db)
    (job / "metrics.jsonl").symlink_to(other / "metrics.jsonl")
    (job / "runtime.json").symlink_to(other / "runtime.json")
    # a link inside the job directory is refused as well: no link is followed
    (job / "logs" / "rank-1.log").symlink_to(job / "runtime.json")
    page = jobs.read_log(job)
    assert page["total"] == 0 and page["lines"] == []
    assert jobs.read_device_log(job) == []
    assert jobs.read_metrics(job) == []
    assert jobs.read_runtime(job) == {}


def test_a_job_cannot_make_the_service_read_through_directory_links(secrets_outside):
    job, db, other = secrets_outside
    (job / "logs").rmdir()
    (job / "logs").symlink_to(other, target_is_directory=True)
    assert jobs.log_ranks(job) == []  # not even the names of the files there
    assert jobs.read_log(job)["total"] == 0
    assert jobs.read_device_log(job) == []
    # the job directory itself replaced by a link (its parent is the service's)
    moved = job.parent / "7-real"
    job.rename(moved)
    job.symlink_to(other, target_is_directory=True)
    assert jobs.read_metrics(job) == [] and jobs.read_runtime(job) == {}


def test_job_files_that_are_no_regular_files_read_as_absent(secrets_outside):
    job, _db, _other = secrets_outside
    os.mkfifo(job / "logs" / "device.log")  # would block a reader that waits for a writer
    (job / "metrics.jsonl").mkdir()
    (job / "runtime.json").write_text("[1, 2]")  # JSON, but not what the runner writes
    (job / "logs" / "rank-0.log").write_text("2026-01-01T00:00:01Z [rank 0] [stdout] mine\n")
    assert jobs.read_device_log(job) == []
    assert jobs.read_metrics(job) == []
    assert jobs.read_runtime(job) == {}
    assert [line["text"] for line in jobs.read_log(job)["lines"]] == ["mine"]


def test_status_and_outcome():
    job = orm.TrainingJob(paused=False, exit_code=None)
    w = orm.Workload(status="running")
    assert jobs.job_status(job, w) == "running"
    job.paused = True
    assert jobs.job_status(job, w) == "paused"
    job.paused, w.status, job.exit_code = False, "closed", 2
    job.spec = {"keep_alive": True}
    assert jobs.job_status(job, w) == "failed"  # a keep-alive job stopped after it failed
    w.status = "running"
    assert jobs.job_status(job, w) == "failed"  # its command ended, its server still runs
    # any other job: the report is being applied (the exit code is stored, the workload not
    # yet released with its reason) — it still runs until the workload says how it ended
    job.spec = {}
    assert jobs.job_status(job, w) == "running"
    assert jobs.outcome(0, "") == (
        "completed",
        {"code": "completed", "message": jobs.EXITED, "params": {"code": 0}},
    )
    status, reason = jobs.outcome(1, "x" * 5000)
    assert status == "failed" and len(reason["params"]["tail"]) == 2000


def test_a_runner_reason_becomes_the_translated_failure_message():
    """The job runner says why a node failed as an id and parameters; the job shows the
    platform's message in the reader's language (never a text a pod made up)."""
    from ytung_service.i18n import translator

    why = jobs.runner_reason({"id": "node_lost", "params": {"node": 1, "seconds": 60}})
    status, reason = jobs.outcome(137, "", why)
    assert status == "failed" and reason["code"] == "failed"
    assert reason["params"] == {"node": 1, "seconds": 60, "code": 137, "tail": ""}
    job = orm.TrainingJob(id=1, name="t", owner="ann", paused=False, exit_code=137, spec={})
    w = orm.Workload(id=3, status="failed", reason=reason)
    en = jobs.job_model(job, w, translator("en"))["reason"]["text"]
    zh = jobs.job_model(job, w, translator("zh_CN"))["reason"]["text"]
    assert en == (
        "The job failed with exit code 137: node 1 stopped reporting for 60 s; its pod was "
        "deleted, evicted or killed"
    )
    assert zh == "任务失败，退出码 137：节点 1 已 60 秒未上报状态，其 Pod 已被删除、驱逐或终止"
    for reason_id, params in (
        ("node_never_started", {"node": 2, "seconds": 600}),
        ("node_terminated", {"node": 1, "signal": "SIGTERM"}),
        ("node_bad_status", {"node": 1}),
        ("master_unresolved", {"node": 1, "host": "ytung-5-0.ytung-5.ai.svc"}),
        ("runner_error", {"error": "KeyError: 'x'"}),
    ):
        message, clean = jobs.runner_reason({"id": reason_id, "params": params})
        assert clean == params
        text = translator("zh_CN")(message, code=1, tail="", **clean)
        assert text.startswith("任务失败，退出码 1：") and "{" not in text
    assert jobs.runner_reason(None) is None
    # no stderr tail and no reason: the plain message, as before
    assert jobs.outcome(3, "boom")[1]["message"] == jobs.FAILED


@pytest.mark.parametrize(
    "value, error",
    [
        ("node_lost", "must name one of node_lost, "),
        ({"id": "made_up", "params": {}}, "must name one of"),
        ({"id": "node_lost"}, "must name one of"),
        ({"id": "node_lost", "params": {"node": "1", "seconds": 60}}, "needs a valid 'node'"),
        ({"id": "node_lost", "params": {"node": True, "seconds": 60}}, "needs a valid 'node'"),
        ({"id": "node_lost", "params": {"node": 1, "seconds": -1}}, "needs a valid 'seconds'"),
        ({"id": "runner_error", "params": {"error": 5}}, "needs a valid 'error'"),
    ],
)
def test_a_malformed_runner_reason_is_refused(value, error):
    with pytest.raises(DomainError, match=error) as e:
        jobs.runner_reason(value)
    assert e.value.status == 400


def test_paramsets_and_templates(db):
    row = jobs.save_paramset(db, "ann", {"name": "fast", "params": {"epochs": 1}})
    assert row.spec["params"] == {"epochs": "1"} and row.owner == "ann"
    with pytest.raises(DomainError, match="already have a parameter set named fast"):
        jobs.save_paramset(db, "ann", {"name": "fast"})
    jobs.save_paramset(db, "bob", {"name": "fast"})  # names are per owner
    edited = jobs.save_paramset(db, "ann", {"name": "fast", "params": {"lr": "2"}}, row)
    assert edited is row and row.spec["params"] == {"lr": "2"}
    with pytest.raises(DomainError, match="A name is 1-64"):
        jobs.save_paramset(db, "ann", {"name": "bad name"})
    with pytest.raises(DomainError, match="Python file"):
        jobs.save_paramset(db, "ann", {"name": "x", "start_file": "a.sh"})
    t = jobs.save_template(db, "ann", {"name": "t1", "spec": form(unknown="dropped")})
    assert "unknown" not in t.spec and t.spec["params"]["epochs"] == "3"
    with pytest.raises(DomainError, match="already have a job template named t1"):
        jobs.save_template(db, "ann", {"name": "t1", "spec": {}})


def test_presets_are_listed_with_their_measured_quality():
    [digits] = jobs.presets()
    assert digits["name"] == "digits_cnn" and digits["accuracy"] > 0.9
    assert digits["size_bytes"] > 0 and digits["created"] and digits["use"]
    [pset] = jobs.preset_paramsets()
    assert pset["id"] == "preset:digits_cnn" and pset["preset"]
    with pytest.raises(DomainError, match="No such preset model: nope"):
        jobs.preset("nope")


def test_prepare_preset_copies_its_code_into_the_home(tmp_path):
    prefilled = jobs.prepare_preset(tmp_path, "ann", "digits_cnn")
    assert prefilled["code_dir"] == "/home/ann/presets/digits_cnn"
    assert prefilled["start_file"] == "train.py" and prefilled["params"]["epochs"] == "8"
    copied = tmp_path / "home" / "ann" / "presets" / "digits_cnn" / "train.py"
    copied.write_text("# my edits\n")
    jobs.prepare_preset(tmp_path, "ann", "digits_cnn")  # the user's edits are kept
    assert copied.read_text() == "# my edits\n"


@pytest.mark.slow
def test_the_preset_trains_to_its_listed_quality(tmp_path):
    """Re-run the preset's training (fewer epochs) and check its accuracy on held-out data."""
    script = jobs.PRESETS_DIR / "digits_cnn" / "train.py"
    subprocess.run(
        [sys.executable, str(script), "--epochs", "4", "--output_path", str(tmp_path)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.9 and metrics["test_images"] == 360
    assert (tmp_path / "checkpoint-epoch4.pt").exists() and (tmp_path / "model.pt").exists()
    # resuming from a checkpoint continues after its epoch
    out = subprocess.run(
        [
            sys.executable, str(script), "--epochs", "5", "--output_path", str(tmp_path),
            "--checkpoint_path", str(tmp_path / "checkpoint-epoch4.pt"),
        ],
        check=True, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert "resumed from" in out.stdout and "epoch 5/5" in out.stdout
    assert "epoch 1/5" not in out.stdout


def test_a_queued_job_shows_its_estimated_start():
    """X1 in the job list and detail: the estimate the scheduler pass kept with the reason."""
    from ytung_service.i18n import translator
    from ytung_service.scheduling.messages import MESSAGES

    job = orm.TrainingJob(id=4, name="j", paused=False, exit_code=None, spec={}, runs=[])
    w = orm.Workload(id=9, status="queued", position=2, ahead=1, server_name="training-4")
    w.reason = {
        "code": "quota",
        "message": "waiting",
        "params": {},
        "estimate": {
            "start": 4102444800.0,
            "code": "estimate_unlimited",
            "message": MESSAGES["estimate_unlimited"],
            "params": {},
        },
    }
    queue = jobs.job_model(job, w, translator("zh_CN"))["queue"]
    assert (queue["position"], queue["ahead"]) == (2, 1)
    assert queue["estimated_start"].startswith("2100-01-01")
    assert queue["estimate_reason"] == translator("zh_CN")(MESSAGES["estimate_unlimited"])
    assert queue["estimate_reason"] != MESSAGES["estimate_unlimited"]  # translated
    w.reason = {"code": "quota", "message": "waiting", "params": {}}  # not estimated yet
    assert jobs.job_model(job, w, translator("en"))["queue"]["estimated_start"] is None
