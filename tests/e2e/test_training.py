"""Training jobs end to end on the real platform, runtime ``local`` (SPEC T1–T7).

Every job is a real named server ``training-<id>`` started by the service; its server extension
runs the command, writes the rank logs and reports the end; the service frees the devices and
stops the server. Bad input is refused with a clear message and creates nothing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import requests

from tests.harness import ADMIN_PASSWORD, RunningPlatform, _cmdline, execute_in_kernel

pytestmark = pytest.mark.slow

PASSWORD = "Secret-pass-42"
GPU = "nvidia_gpu_amd64"

TRIVIAL = """\
import argparse, pathlib, sys
p = argparse.ArgumentParser()
p.add_argument("--greeting", default="hi")
p.add_argument("--output_path")
p.add_argument("--data_path", default="")
p.add_argument("--checkpoint_path", default="")
p.add_argument("--sleep", type=float, default=0)
a = p.parse_args()
print("greeting", a.greeting)
print("checkpoint", a.checkpoint_path or "none")
pathlib.Path(a.output_path, "step-1.pt").write_text("weights")
print("to stderr", file=sys.stderr)
import time; time.sleep(a.sleep)
print("done")
"""

CRASH = "import sys\nprint('about to fail')\nraise RuntimeError('the loss is NaN')\n"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """A server directory that datasets may be registered from (S1)."""
    return tmp_path_factory.mktemp("srv")


@pytest.fixture(scope="module")
def plat(tmp_path_factory, srv):
    with RunningPlatform.running(
        tmp_path_factory.mktemp("training"),
        YTUNG_RECONCILE_INTERVAL="1",
        YTUNG_DATASET_PATH_ROOTS=str(srv),
        YTUNG_SIMULATED_DEVICES=f"gpu-a:{GPU}=2;gpu-b:{GPU}=2",
    ) as p:
        yield p


@pytest.fixture(scope="module")
def tokens(plat):
    admin = plat.token("admin", ADMIN_PASSWORD)
    out = {"admin": admin}
    for name in ("tina", "otto"):
        assert plat.signup(name, name.title(), PASSWORD).status_code == 302
        assert plat.api("POST", "vcs/default/members", admin, json={"user": name}).ok
        out[name] = plat.token(name, PASSWORD)
    code = plat.data_dir / "home" / "tina" / "code"
    code.mkdir(parents=True)
    (code / "train.py").write_text(TRIVIAL)
    (code / "crash.py").write_text(CRASH)
    (plat.data_dir / "home" / "tina" / "outside.py").write_text("print('x')\n")
    return out


def form(**changes) -> dict:
    body = {
        "name": "trivial_1",
        "description": "a trivial job",
        "engine": "pytorch",
        "code_dir": "/home/tina/code",
        "start_file": "train.py",
        "output_path": "/home/tina/out/trivial",
        "params": {"greeting": "hello"},
    }
    body.update(changes)
    return body


def wait_job(plat, token, job_id, statuses, timeout=120) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        job = plat.api("GET", f"jobs/{job_id}", token).json()
        if job["status"] in statuses:
            return job
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} stayed {job['status']}:\n{plat.log_tail()}")
        time.sleep(0.5)


def server_gone(plat, token, user, server, timeout=60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server not in plat.hub_api("GET", f"users/{user}", token).json().get("servers", {}):
            return True
        time.sleep(0.5)
    return False


def test_a_job_runs_logs_per_rank_completes_and_its_server_stops(plat, tokens):
    tina = tokens["tina"]
    r = plat.api("POST", "jobs", tina, json=form())
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["status"] in ("queued", "scheduling", "running") and job["engine"] == "pytorch"
    done = wait_job(plat, tina, job["id"], ("completed", "failed"))
    assert done["status"] == "completed" and done["exit_code"] == 0, done
    assert done["reason"]["code"] == "completed"
    # the log: tagged per rank, paginated
    page = plat.api("GET", f"jobs/{job['id']}/logs?offset=0&limit=3", tina).json()
    assert page["ranks"] == [0] and page["total"] >= 6 and len(page["lines"]) == 3
    everything = plat.api("GET", f"jobs/{job['id']}/logs?limit=100", tina).json()["lines"]
    texts = [(line["rank"], line["stream"], line["text"]) for line in everything]
    assert (0, "stdout", "greeting hello") in texts
    assert (0, "stdout", "checkpoint none") in texts
    assert (0, "stderr", "to stderr") in texts
    assert texts[-1] == (0, "platform", "exited with code 0")
    rest = plat.api("GET", f"jobs/{job['id']}/logs?offset=3&limit=100", tina).json()
    assert rest["lines"] == everything[3:]
    # the command's contract: output path made real, and the platform's arguments
    assert (plat.data_dir / "home" / "tina" / "out" / "trivial" / "step-1.pt").exists()
    # the service stopped the named server and freed the devices
    assert server_gone(plat, tina, "tina", f"training-{done['workload']}")
    w = plat.api("GET", f"workloads/{done['workload']}", tina).json()
    assert w["status"] == "completed" and w["kind"] == "training"
    # T1: the list
    listed = plat.api("GET", "jobs", tina).json()
    assert [(j["id"], j["name"], j["status"], j["engine"]) for j in listed][-1] == (
        job["id"],
        "trivial_1",
        "completed",
        "pytorch",
    )
    assert listed[-1]["created"]
    metrics = plat.api("GET", f"jobs/{job['id']}/metrics", tina).json()
    assert metrics["ranks"][0]["argv"][-2:] == [
        "--output_path",
        str(plat.data_dir / "home" / "tina" / "out" / "trivial"),
    ]


def test_a_command_that_crashes_shows_failed_with_the_tail_of_stderr(plat, tokens):
    tina = tokens["tina"]
    r = plat.api("POST", "jobs", tina, json=form(name="crash_1", start_file="crash.py"))
    assert r.status_code == 201, r.text
    done = wait_job(plat, tina, r.json()["id"], ("completed", "failed"))
    assert done["status"] == "failed" and done["exit_code"] == 1
    assert "RuntimeError: the loss is NaN" in done["stderr_tail"]
    assert "the loss is NaN" in done["reason"]["text"]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"start_file": "missing.py"}, "File or path does not exist: missing.py"),
        ({"start_file": "../outside.py"}, "must be inside the code directory"),
        ({"start_file": "notes.txt"}, "must be a Python file"),
        ({"code_dir": "/home/otto/code"}, "must stay inside /home/tina"),
        ({"code_dir": "/etc"}, "must stay inside /home/tina"),
        ({"code_dir": "/home/tina/../otto"}, "must stay inside"),
        ({"name": "bad name!"}, "A job name is 1-64 English letters"),
        ({"name": "名字"}, "A job name is 1-64 English letters"),
        ({"params": {"output_path": "/tmp"}}, "The platform sets --output_path itself"),
        ({"params": {"bad key": "1"}}, "Invalid run parameter name"),
    ],
)
def test_bad_input_is_refused_and_creates_nothing(plat, tokens, changes, message):
    tina = tokens["tina"]
    before = plat.api("GET", "jobs", tina).json()
    r = plat.api("POST", "jobs", tina, json=form(**{"name": "bad_input", **changes}))
    assert r.status_code == 400, r.text
    assert message in r.json()["message"]
    assert plat.api("GET", "jobs", tina).json() == before


def test_refusals_are_translated(plat, tokens):
    r = requests.post(
        f"{plat.url}/services/ytung/api/v1/jobs",
        json=form(start_file="missing.py"),
        headers={"Authorization": f"token {tokens['tina']}", "Accept-Language": "zh-CN"},
        timeout=30,
    )
    assert r.status_code == 400 and "文件或路径不存在" in r.json()["message"]


def test_another_users_job_does_not_exist_for_you(plat, tokens):
    tina, otto = tokens["tina"], tokens["otto"]
    job = plat.api("POST", "jobs", tina, json=form(name="private_1", start_file="crash.py")).json()
    for method, path in (
        ("GET", f"jobs/{job['id']}"),
        ("DELETE", f"jobs/{job['id']}"),
        ("GET", f"jobs/{job['id']}/logs"),
        ("POST", f"jobs/{job['id']}/pause"),
        ("POST", f"jobs/{job['id']}/resume"),
    ):
        r = plat.api(method, path, otto)
        assert r.status_code == 404, (method, path, r.text)
    assert plat.api("GET", "jobs", otto).json() == []
    assert plat.api("GET", f"jobs/{job['id']}", tina).json()["name"] == "private_1"
    wait_job(plat, tina, job["id"], ("failed",))


def test_pause_keeps_outputs_and_resume_starts_from_the_latest_checkpoint(plat, tokens):
    tina = tokens["tina"]
    r = plat.api(
        "POST",
        "jobs",
        tina,
        json=form(name="long_1", output_path="/home/tina/out/long", params={"sleep": "600"}),
    )
    job = r.json()
    out = plat.data_dir / "home" / "tina" / "out" / "long"
    deadline = time.monotonic() + 120
    while not (out / "step-1.pt").exists():
        assert time.monotonic() < deadline, plat.log_tail()
        time.sleep(0.5)
    # T6 metrics: CPU and memory of the running command's process tree
    deadline = time.monotonic() + 30
    while not plat.api("GET", f"jobs/{job['id']}/metrics", tina).json()["samples"]:
        assert time.monotonic() < deadline, "no metrics sample"
        time.sleep(0.5)
    sample = plat.api("GET", f"jobs/{job['id']}/metrics", tina).json()["samples"][-1]
    assert sample["memory_bytes"] > 1_000_000 and sample["ranks"][0]["rank"] == 0
    assert sample["devices"] is None  # CPU only: no device metrics on this runtime
    paused = plat.api("POST", f"jobs/{job['id']}/pause", tina)
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    first = paused.json()["workload"]
    assert server_gone(plat, tina, "tina", f"training-{first}")
    assert (out / "step-1.pt").exists()  # outputs kept
    # no rank outlives its server
    deadline = time.monotonic() + 30
    while [p for p in os.listdir("/proc") if p.isdigit() and str(out) in _cmdline(int(p))]:
        assert time.monotonic() < deadline, "a rank of the paused run still runs"
        time.sleep(0.5)
    assert plat.api("GET", f"jobs/{job['id']}", tina).json()["status"] == "paused"
    assert plat.api("POST", f"jobs/{job['id']}/pause", tina).status_code == 409
    deadline = time.monotonic() + 60
    while True:  # 409 while the paused run's server is still stopping
        resumed = plat.api("POST", f"jobs/{job['id']}/resume", tina)
        if resumed.status_code != 409 or time.monotonic() > deadline:
            break
        assert "still stopping" in resumed.json()["message"]
        time.sleep(0.5)
    assert resumed.status_code == 200, resumed.text
    second = resumed.json()
    assert second["workload"] != first and second["runs"] == [first, second["workload"]]
    wait_job(plat, tina, job["id"], ("running",))
    expected = f"checkpoint {out / 'step-1.pt'}"
    deadline = time.monotonic() + 120
    while True:
        lines = plat.api("GET", f"jobs/{job['id']}/logs?limit=1000", tina).json()["lines"]
        if any(line["text"] == expected for line in lines):
            break
        assert time.monotonic() < deadline, lines
        time.sleep(0.5)
    # both runs in one log, the second after the first
    runs = [line["text"] for line in lines if line["text"].startswith("run ")]
    assert [t.split(":")[0] for t in runs] == ["run 1", "run 2"]
    assert "--checkpoint_path" in runs[1]
    stopped = plat.api("DELETE", f"jobs/{job['id']}", tina).json()
    assert stopped["status"] in ("stopping", "closed")
    assert wait_job(plat, tina, job["id"], ("closed",))["status"] == "closed"


def test_a_job_past_the_vc_time_limit_is_stopped_and_says_why(plat, tokens):
    admin, tina = tokens["admin"], tokens["tina"]
    r = plat.api("POST", "vcs", admin, json={"name": "brief", "max_hours": 0.004})
    assert r.status_code == 201, r.text
    assert plat.api("POST", "vcs/brief/members", admin, json={"user": "tina"}).ok
    try:
        r = plat.api(
            "POST",
            "jobs",
            tina,
            json=form(name="forever", vc="brief", params={"sleep": "100000"}),
        )
        assert r.status_code == 201, r.text
        done = wait_job(plat, tina, r.json()["id"], ("closed", "failed", "completed"), timeout=120)
    finally:
        # later jobs of tina's go to her first VC again: `default`
        plat.api("DELETE", "vcs/brief/members/tina", admin)
    assert done["status"] == "closed", done
    assert done["reason"]["code"] == "time_limit" and "0.004" in done["reason"]["text"]
    assert server_gone(plat, tina, "tina", f"training-{done['workload']}")


def test_a_preset_model_trains_distributed_over_two_ranks(plat, tokens):
    """T5 + T3: the preset's code copied to the home, a job prefilled from it, 2 ranks."""
    tina = tokens["tina"]
    presets = plat.api("GET", "presets?search=dgcnn", tina).json()
    assert [p["name"] for p in presets] == ["digits_cnn"]
    assert presets[0]["accuracy"] > 0.9 and presets[0]["size_bytes"] > 0
    assert plat.api("GET", "presets?search=resnet", tina).json() == []
    prefilled = plat.api("POST", "presets/digits_cnn/prepare", tina).json()
    assert prefilled["code_dir"] == "/home/tina/presets/digits_cnn"
    assert (plat.data_dir / "home" / "tina" / "presets" / "digits_cnn" / "train.py").exists()
    body = {
        **prefilled,
        "name": "digits_ddp",
        "params": {**prefilled["params"], "epochs": "2"},
        "distributed": True,
        "nodes": 2,
        "devices_per_node": 0,
    }
    r = plat.api("POST", "jobs", tina, json=body)
    assert r.status_code == 201, r.text
    done = wait_job(plat, tina, r.json()["id"], ("completed", "failed"), timeout=240)
    assert done["status"] == "completed", (done, plat.log_tail())
    assert done["distributed"] and done["nodes"] == 2
    page = plat.api("GET", f"jobs/{done['id']}/logs?limit=1000", tina).json()
    assert page["ranks"] == [0, 1]
    for rank in (0, 1):
        rank_lines = plat.api("GET", f"jobs/{done['id']}/logs?rank={rank}&limit=1000", tina)
        texts = [line["text"] for line in rank_lines.json()["lines"]]
        assert f"rank {rank}/2" in texts[1] and any(t.startswith("epoch 2/2") for t in texts)


def test_parameter_sets_and_templates(plat, tokens):
    tina, otto = tokens["tina"], tokens["otto"]
    sets = plat.api("GET", "paramsets", tina).json()
    preset = next(s for s in sets if s["id"] == "preset:digits_cnn")
    assert preset["preset"] and preset["spec"]["params"]["epochs"] == "8"
    # editing a preset saves a set of mine
    r = plat.api(
        "PUT",
        "paramsets/preset:digits_cnn",
        tina,
        json={**preset["spec"], "name": "digits_fast", "params": {"epochs": "2"}},
    )
    assert r.status_code == 201, r.text
    mine = r.json()
    assert not mine["preset"] and mine["spec"]["params"] == {"epochs": "2"}
    r = plat.api(
        "PUT", f"paramsets/{mine['id']}", tina, json={"name": "digits_fast", "params": {"lr": "1"}}
    )
    assert r.status_code == 200 and r.json()["spec"]["params"] == {"lr": "1"}
    assert plat.api("PUT", f"paramsets/{mine['id']}", otto, json={"name": "x"}).status_code == 404
    assert plat.api("POST", "paramsets", tina, json={"name": "digits_fast"}).status_code == 409
    assert [s["name"] for s in plat.api("GET", "paramsets?search=dfast", tina).json()] == [
        "digits_fast"
    ]
    # templates: save a whole form, list, use, delete
    r = plat.api("POST", "jobtemplates", tina, json={"name": "tpl_1", "spec": form()})
    assert r.status_code == 201, r.text
    template = r.json()
    assert template["spec"]["code_dir"] == "/home/tina/code"
    assert [t["name"] for t in plat.api("GET", "jobtemplates", tina).json()] == ["tpl_1"]
    assert plat.api("GET", "jobtemplates", otto).json() == []
    r = plat.api("POST", "jobs", tina, json={**template["spec"], "name": "from_template"})
    assert r.status_code == 201, r.text
    wait_job(plat, tina, r.json()["id"], ("completed", "failed"))
    assert plat.api("DELETE", f"jobtemplates/{template['id']}", otto).status_code == 404
    assert plat.api("DELETE", f"jobtemplates/{template['id']}", tina).status_code == 204
    assert plat.api("DELETE", f"paramsets/{mine['id']}", tina).status_code == 204


def test_keep_alive_keeps_jupyter_and_terminals_reachable_after_the_command(plat, tokens):
    """T6: the job's server stays (debugging) with its Lab and terminals; stop ends it."""
    tina = tokens["tina"]
    r = plat.api("POST", "jobs", tina, json=form(name="debug_1", keep_alive=True))
    assert r.status_code == 201, r.text
    done = wait_job(plat, tina, r.json()["id"], ("completed", "failed"))
    assert done["status"] == "completed" and done["exit_code"] == 0
    ports = done["ports"]
    assert ports["jupyter"] == f"/user/tina/training-{done['workload']}/lab"
    plat.wait_for_server("tina", tina, f"training-{done['workload']}")
    auth = {"Authorization": f"token {tina}"}
    # TensorBoard (the ml extra) stays with a kept-alive server, through the port proxy
    assert ports["tensorboard_available"] is True
    assert ports["tensorboard"].startswith(f"{ports['server']}proxy/4")
    for _ in range(60):  # it needs a few seconds to import and listen
        board = requests.get(plat.url + ports["tensorboard"], headers=auth, timeout=30)
        if board.status_code == 200:
            break
        time.sleep(1)
    assert board.status_code == 200 and "tensorboard" in board.text.lower()
    lab = requests.get(plat.url + ports["jupyter"], headers=auth, timeout=30)
    assert lab.status_code == 200
    server = ports["server"]
    term = requests.post(plat.url + server + "api/terminals", headers=auth, timeout=30)
    assert term.status_code == 200, term.text
    assert plat.api("GET", f"workloads/{done['workload']}", tina).json()["status"] == "running"
    plat.api("DELETE", f"jobs/{done['id']}", tina)
    assert server_gone(plat, tina, "tina", f"training-{done['workload']}")
    after = wait_job(plat, tina, done["id"], ("completed",))
    assert after["ports"] is None


def test_a_labeled_dataset_is_passed_as_data_path_and_an_unlabeled_one_refused(plat, tokens, srv):
    tina = tokens["tina"]
    for name, labeled in (("digits_labeled", True), ("digits_raw", False)):
        folder = srv / name
        folder.mkdir()
        (folder / "README").write_text(name)
        r = plat.api(
            "POST",
            "datasets",
            tina,
            json={"name": name, "path": str(folder), "labeled": labeled},
        )
        assert r.status_code == 201, r.text
    datasets = {d["name"]: d for d in plat.api("GET", "datasets", tina).json()}
    raw = datasets["digits_raw"]
    r = plat.api(
        "POST", "jobs", tina, json=form(name="raw_data", dataset={"id": raw["id"], "version": None})
    )
    assert r.status_code == 400 and "not labeled" in r.json()["message"], r.text
    r = plat.api("POST", "jobs", tina, json=form(name="raw_data", dataset={"id": "x"}))
    assert r.status_code == 400 and "id and version" in r.json()["message"]
    assert (
        plat.api(
            "POST",
            "jobs",
            tokens["otto"],
            json=form(name="not_mine", code_dir="/home/otto", start_file="x.py"),
        ).status_code
        == 400
    )
    good = datasets["digits_labeled"]
    r = plat.api("POST", "jobs", tina, json=form(name="with_data", dataset={"id": good["id"]}))
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["spec"]["dataset"]["id"] == good["id"] and job["spec"]["dataset"]["version"]
    done = wait_job(plat, tina, job["id"], ("completed", "failed"))
    assert done["status"] == "completed", done
    argv = plat.api("GET", f"jobs/{job['id']}/metrics", tina).json()["ranks"][0]["argv"]
    data_path = argv[argv.index("--data_path") + 1]
    assert (Path(data_path) / "README").read_text() == "digits_labeled"
    w = plat.api("GET", f"workloads/{done['workload']}", tina).json()
    assert w["job"]["data_path"] == data_path


async def test_the_lab_side_and_the_notebook_widget(plat, tokens):
    """The server extension forwards the Training section's calls; the widget works in a
    kernel of the user's own server."""
    tina = tokens["tina"]
    r = plat.hub_api("POST", "users/tina/server", tina)
    assert r.status_code in (201, 202), r.text
    plat.wait_for_server("tina", tina)
    try:
        auth = {"Authorization": f"token {tina}"}
        base = f"{plat.url}/user/tina/ytung/api/"
        jobs = requests.get(base + "jobs", headers=auth, timeout=30)
        assert jobs.status_code == 200 and {j["name"] for j in jobs.json()} >= {"trivial_1"}
        presets = requests.get(base + "presets?search=digits", headers=auth, timeout=30).json()
        assert presets[0]["name"] == "digits_cnn"
        bad = requests.post(base + "jobs", headers=auth, json=form(name="x y"), timeout=30)
        assert bad.status_code == 400 and "A job name" in bad.json()["message"]
        job = next(j for j in jobs.json() if j["name"] == "trivial_1")
        page = requests.get(base + f"jobs/{job['id']}/logs?limit=2", headers=auth, timeout=30)
        assert page.json()["total"] >= 6 and len(page.json()["lines"]) == 2
        code = (
            "from ytung_widgets.training import TrainingJob\n"
            f"w = TrainingJob({job['id']}, lang='en')\n"
            "print(repr(w), len(w.lines))\n"
            "print('greeting hello' in w._body.value)\n"
        )
        out = await execute_in_kernel(f"{plat.url}/user/tina/", tina, code)
        assert f"<TrainingJob {job['id']} completed>" in out and "True" in out
    finally:
        plat.hub_api("DELETE", "users/tina/server", tina)


def test_render_job_is_plain_html():
    from ytung_widgets.training import render_job

    html = render_job(
        {"id": 1, "name": "a<b", "status": "failed", "exit_code": 2, "reason": {"text": "boom"}},
        [
            {"rank": 0, "stream": "stdout", "text": "x"},
            {"rank": 1, "stream": "stderr", "text": "y"},
        ],
        lambda m, **k: m,
    )
    assert "a&lt;b" in html and "Exit code: 2" in html and "boom" in html
    assert "[rank 0] x\n[rank 1] ! y" in html


RANK_ENV = """\
import os
keys = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "NODE_RANK", "CUDA_VISIBLE_DEVICES", "MASTER_ADDR")
print(" ".join(f"{k}={os.environ.get(k)}" for k in keys))
"""


def test_distributed_ranks_get_the_torch_environment_and_one_device_each(plat, tokens):
    """T3 on simulated GPUs: 2 nodes × 2 devices = 4 ranks, each bound to its own device."""
    admin, tina = tokens["admin"], tokens["tina"]
    r = plat.api("POST", "vcs", admin, json={"name": "gpus", "quota": {GPU: 4}})
    assert r.status_code == 201, r.text
    assert plat.api("POST", "vcs/gpus/members", admin, json={"user": "tina"}).ok
    (plat.data_dir / "home" / "tina" / "code" / "ranks.py").write_text(RANK_ENV)
    try:
        body = form(
            name="ranks",
            start_file="ranks.py",
            params={},
            vc="gpus",
            distributed=True,
            nodes=2,
            devices_per_node=2,
            device_type=GPU,
        )
        r = plat.api("POST", "jobs", tina, json=body)
        assert r.status_code == 201, r.text
        done = wait_job(plat, tina, r.json()["id"], ("completed", "failed"))
    finally:
        plat.api("DELETE", "vcs/gpus/members/tina", admin)
    assert done["status"] == "completed", done
    placement = plat.api("GET", f"jobs/{done['id']}/metrics", tina).json()["placement"]
    assert sorted(placement) == ["gpu-a", "gpu-b"]
    seen = {}
    for rank in range(4):
        page = plat.api("GET", f"jobs/{done['id']}/logs?rank={rank}", tina).json()
        [line] = [x["text"] for x in page["lines"] if x["stream"] == "stdout"]
        seen[rank] = dict(pair.split("=", 1) for pair in line.split())
    assert {env["WORLD_SIZE"] for env in seen.values()} == {"4"}
    assert [(env["NODE_RANK"], env["LOCAL_RANK"]) for env in seen.values()] == [
        ("0", "0"), ("0", "1"), ("1", "0"), ("1", "1"),
    ]  # fmt: skip
    expected = [str(d) for node in sorted(placement) for d in placement[node]]
    assert [seen[r]["CUDA_VISIBLE_DEVICES"] for r in range(4)] == expected
    assert {env["MASTER_ADDR"] for env in seen.values()} == {"127.0.0.1"}
