"""Dev environments in the service, without a hub (SPEC D1, D2, D7, D8, I1, U1).

The pure parts (:func:`parse_spec`, :func:`devenv_model`, :func:`check_port`) against literals;
the operations against a real (migrated) SQLite database and a real :class:`Admission`, with
``RecordingReconciler`` — a named fake that records what it would ask the hub — in place of the
reconciler.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import sessionmaker

from ytung_service import devenvs, orm
from ytung_service.accounts import add_member, create_account
from ytung_service.admission import Admission
from ytung_service.db import make_engine
from ytung_service.errors import DomainError
from ytung_service.i18n import translator
from ytung_service.scheduling import NVIDIA_GPU, Node

NODES = [Node("gpu-1", NVIDIA_GPU, tuple(range(4)))]


def parse(body, user, tmp_path, saved=None):
    return devenvs.parse_spec(
        body, user, tmp_path, devenvs.DEFAULT_ENGINES, saved or (lambda i: None)
    )


class FakeUser:
    def __init__(self, name="ann", privilege_enabled=False):
        self.name = name
        self.privilege_enabled = privilege_enabled


def test_parse_spec_fills_every_d1_field(tmp_path):
    spec = parse(
        {
            "name": " resnet ",
            "description": "ResNet",
            "code_dir": "/home/ann/code/resnet",
            "engine": "pytorch-2.13-cuda",
            "job_type": "distributed",
            "nodes": 2,
            "devices_per_node": "4",
            "device_type": NVIDIA_GPU,
        },
        FakeUser(),
        tmp_path,
    )
    assert spec == {
        "name": "resnet",
        "owner": "ann",
        "description": "ResNet",
        "code_dir": "/home/ann/code/resnet",
        "engine_source": "preset",
        "engine": "pytorch-2.13-cuda",
        "image": "ytung/pytorch:2.13.0-cuda12.8",
        "engine_type": "PyTorch",
        "job_type": "distributed",
        "device_type": NVIDIA_GPU,
        "nodes": 2,
        "devices_per_node": 4,
        "privileged": False,
        "preemptible": False,
        "vc": None,
    }


def test_parse_spec_defaults(tmp_path):
    spec = parse({"name": "a", "engine": "pytorch-2.13-cpu", "nodes": 5}, FakeUser(), tmp_path)
    # the code dir defaults to the home; a regular job has one node whatever was sent
    assert spec["code_dir"] == "/home/ann" and spec["nodes"] == 1
    assert spec["device_type"] is None and spec["devices_per_node"] == 0
    custom = parse(
        {"name": "c", "engine_source": "custom", "engine": "reg.example.com:5000/ai/pt:2.13"},
        FakeUser(),
        tmp_path,
    )
    assert custom["image"] == "reg.example.com:5000/ai/pt:2.13" and custom["engine_type"] == ""


@pytest.mark.parametrize(
    "body, status, message",
    [
        ({}, 400, "A name is required"),
        ({"name": "  "}, 400, "A name is required"),
        ({"name": "a b", "engine": "pytorch-2.13-cpu"}, 400, "A workload name is"),
        ({"name": "a"}, 400, "Choose an engine"),
        ({"name": "a", "engine": "tf"}, 400, "No such preset engine"),
        ({"name": "a", "engine_source": "docker", "engine": "x"}, 400, "Unknown engine source"),
        (
            {"name": "a", "engine_source": "custom", "engine": "UPPER/Case"},
            400,
            "Not an image name",
        ),
        ({"name": "a", "engine_source": "saved", "engine": "7"}, 404, "No such saved image"),
        ({"name": "a", "engine": "pytorch-2.13-cpu", "engine_type": "Caffe"}, 400, "engine type"),
        ({"name": "a", "engine": "pytorch-2.13-cpu", "job_type": "x"}, 400, "Unknown job type"),
        ({"name": "a", "engine": "pytorch-2.13-cpu", "device_type": "tpu"}, 400, "device type"),
        ({"name": "a", "engine": "pytorch-2.13-cpu", "devices_per_node": 2}, 400, "device type"),
        ({"name": "a", "engine": "pytorch-2.13-cpu", "devices_per_node": -1}, 400, "whole number"),
        ({"name": "a", "engine": "pytorch-2.13-cpu", "devices_per_node": 1.5}, 400, "whole number"),
        ({"name": "a", "engine": "pytorch-2.13-cpu", "job_type": "distributed"}, 400, "devices"),
        ({"name": "a", "engine": "pytorch-2.13-cpu", "code_dir": "/home/bob"}, 400, "inside"),
        ({"name": "a", "engine": "pytorch-2.13-cpu", "code_dir": "../../etc"}, 400, "inside"),
        ({"name": "a", "engine": "pytorch-2.13-cpu", "code_dir": 3}, 400, "must be text"),
        ({"name": "a", "engine": "pytorch-2.13-cpu", "privileged": "yes"}, 400, "true or false"),
        ({"name": "a", "engine": "pytorch-2.13-cpu", "privileged": True}, 403, "Privilege Job"),
        ({"name": "a", "engine": "pytorch-2.13-cpu", "description": "x" * 1001}, 400, "longer"),
    ],
)
def test_parse_spec_refusals(tmp_path, body, status, message):
    with pytest.raises(DomainError) as e:
        parse(body, FakeUser(), tmp_path)
    assert e.value.status == status
    assert message in str(e.value)


def test_privileged_only_when_enabled(tmp_path):
    spec = parse(
        {"name": "a", "engine": "mindspore-2.4-ascend", "privileged": True},
        FakeUser(privilege_enabled=True),
        tmp_path,
    )
    assert spec["privileged"] is True and spec["engine_type"] == "MindSpore"


def test_saved_image_of_another_user_is_not_found(tmp_path):
    theirs = orm.SavedImage(id=3, owner="bob", image="x/y:1", engine_type="PyTorch")
    with pytest.raises(DomainError) as e:
        parse(
            {"name": "a", "engine_source": "saved", "engine": "3"},
            FakeUser(),
            tmp_path,
            lambda i: theirs,
        )
    assert e.value.status == 404
    mine = orm.SavedImage(id=3, owner="ann", image="x/y:1", engine_type="PyTorch")
    spec = parse(
        {"name": "a", "engine_source": "saved", "engine": "3"}, FakeUser(), tmp_path, lambda i: mine
    )
    assert spec["image"] == "x/y:1" and spec["engine_type"] == "PyTorch"


@pytest.mark.parametrize("port", [40000, 45678, 49999, "41000"])
def test_ports_in_range(port):
    assert devenvs.check_port(port) == int(port)


@pytest.mark.parametrize("port", [39999, 50000, 8888, 0, -1, "http", True, 4.2e4])
def test_ports_out_of_range(port):
    with pytest.raises(DomainError) as e:
        devenvs.check_port(port)
    assert e.value.status == 400


def test_validate_engines():
    assert devenvs.validate_engines(devenvs.DEFAULT_ENGINES) == devenvs.DEFAULT_ENGINES
    for bad in (
        {},
        [{"name": "a"}],
        [{"name": "a", "image": "Bad Name"}],
        [{"name": "a", "image": "x"}] * 2,
    ):
        with pytest.raises(ValueError):
            devenvs.validate_engines(bad)


# -- operations on a real database --------------------------------------------------------------
class RecordingReconciler:
    """Stands in for the reconciler: records starts and stops, and releases a stopped
    workload at once as the hub's answer would."""

    def __init__(self, admission):
        self.admission = admission
        self.started: list[int] = []
        self.stopped: list[int] = []

    async def apply(self, effects):
        self.started += effects.start
        self.stopped += effects.stop

    async def stop_workload(self, workload_id):
        w, needs_stop = await self.admission.stop(workload_id)
        if needs_stop:
            self.stopped.append(w.id)
            await self.admission.release(w.id, orm.CLOSED, expect=(orm.STOPPING,))


class FakeYtung:
    """The attributes of :class:`YtungService` the domain uses."""

    def __init__(self, sessions, data_dir):
        async def nodes():
            return NODES

        self.admission = Admission(sessions, nodes)
        self.reconciler = RecordingReconciler(self.admission)
        self.data_dir = str(data_dir)
        self.devenv_engines = devenvs.DEFAULT_ENGINES
        self.runtime = "local"


@pytest.fixture
def world(db_url, tmp_path):
    engine = make_engine(db_url)
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    with sessions() as s:
        create_account(s, "ann", "Ann", "Secret-pass-1")
        add_member(s, orm.Vc.find(s, "default"), "ann")
        default = orm.Vc.find(s, "default")
        default.quotas.append(orm.VcQuota(device_type=NVIDIA_GPU, quota=4))
        s.commit()
    yield FakeYtung(sessions, tmp_path / "data"), sessions
    engine.dispose()


async def test_create_stop_start_pause_delete(world):
    ytung, sessions = world
    with sessions() as s:
        ann = orm.User.find(s, "ann")
        env = await devenvs.create(
            ytung,
            s,
            ann,
            {
                "name": "dev",
                "engine": "pytorch-2.13-cuda",
                "device_type": NVIDIA_GPU,
                "devices_per_node": 2,
                "code_dir": "/home/ann/proj",
            },
        )
        run = devenvs.current_run(s, env)
        assert run.kind == "devenv" and run.status == orm.SCHEDULING and len(run.devices) == 2
        assert run.server_name == f"devenv-{run.id}" and env.vc == "default"
        assert run.user_options["devenv"]["code_dir"] == "/home/ann/proj"
        assert run.user_options["devenv"]["image"] == "ytung/pytorch:2.13.0-cuda12.8"
        assert ytung.reconciler.started == [run.id]
        assert (Path(ytung.data_dir) / "home" / "ann" / "proj").is_dir()
        model = devenvs.devenv_model(env, run, lambda m, **k: m.format(**k), None, 0.0)
        assert model["status"] == "scheduling" and model["status_text"] == "Scheduling"
        assert model["lab_url"] is None and model["stoppable"] and not model["startable"]
        # same name twice: refused, nothing submitted
        with pytest.raises(DomainError) as e:
            await devenvs.create(ytung, s, ann, {"name": "dev", "engine": "pytorch-2.13-cpu"})
        assert e.value.status == 409
        with pytest.raises(DomainError) as e:
            devenvs.delete(s, env)
        assert e.value.status == 409
        with pytest.raises(DomainError) as e:
            await devenvs.start(ytung, s, env, ann)
        assert e.value.status == 409
        await devenvs.stop(ytung, s, env)
        s.expire_all()
        first = devenvs.current_run(s, env)
        assert first.status == orm.CLOSED and first.devices == []
        with pytest.raises(DomainError) as e:
            await devenvs.stop(ytung, s, env)
        assert e.value.status == 409
        await devenvs.start(ytung, s, env, ann)
        second = devenvs.current_run(s, env)
        assert second.id != first.id and second.status == orm.SCHEDULING
        assert second.user_options == first.user_options and second.devices_per_node == 2
        await devenvs.stop(ytung, s, env, pause=True)
        s.expire_all()
        model = devenvs.devenv_model(env, devenvs.current_run(s, env), lambda m, **k: m, None, 0)
        assert model["paused"] is True and model["status"] == "closed" and model["startable"]
        devenvs.delete(s, env)
        assert s.get(orm.DevEnv, env.id) is None


async def test_refused_run_leaves_no_record(world):
    ytung, sessions = world
    with sessions() as s:
        ann = orm.User.find(s, "ann")
        with pytest.raises(DomainError) as e:  # V7: 9 GPUs on one node never fit
            await devenvs.create(
                ytung,
                s,
                ann,
                {
                    "name": "big",
                    "engine": "pytorch-2.13-cuda",
                    "device_type": NVIDIA_GPU,
                    "devices_per_node": 9,
                },
            )
        assert e.value.status == 400
        assert devenvs.list_devenvs(s, "ann") == []


async def test_ssh_report_and_model(world):
    ytung, sessions = world
    with sessions() as s:
        ann = orm.User.find(s, "ann")
        env = await devenvs.create(ytung, s, ann, {"name": "dev", "engine": "pytorch-2.13-cpu"})
        wid = env.workload_id
        with pytest.raises(DomainError):
            devenvs.report_ssh(s, env, {"workload_id": wid + 1, "port": 2222, "password": "p" * 24})
        with pytest.raises(DomainError):
            devenvs.report_ssh(s, env, {"workload_id": wid, "port": 70000, "password": "p" * 24})
        with pytest.raises(DomainError):
            devenvs.report_ssh(s, env, {"workload_id": wid, "port": 2222, "password": "short"})
        devenvs.report_ssh(s, env, {"workload_id": wid, "port": 2222, "password": "p" * 24})
        await ytung.admission.mark(wid, orm.RUNNING, (orm.SCHEDULING,))
        s.expire_all()
        model = devenvs.devenv_model(
            env, devenvs.current_run(s, env), lambda m, **k: m, None, 0, "/", "gpu.example.com"
        )
        assert model["ssh"] == {
            "host": "gpu.example.com",
            "port": 2222,
            "user": "ann",
            "password": "p" * 24,
            "command": "ssh -p 2222 ann@gpu.example.com",
        }
        assert model["lab_url"] == f"/user/ann/devenv-{wid}/lab"
        assert model["proxy_url"] == f"/user/ann/devenv-{wid}/proxy/"


async def test_save_image_on_local_and_delete(world, monkeypatch):
    ytung, sessions = world

    async def freeze(home):
        return ["numpy==2.3.0", "torch==2.13.0"]

    monkeypatch.setattr(devenvs, "local_freeze", freeze)
    with sessions() as s:
        ann = orm.User.find(s, "ann")
        env = await devenvs.create(ytung, s, ann, {"name": "dev", "engine": "pytorch-2.13-cpu"})
        with pytest.raises(DomainError) as e:  # not running yet
            await devenvs.save_image(ytung, s, env, {"name": "mine"})
        assert e.value.status == 409
        await ytung.admission.mark(env.workload_id, orm.RUNNING, (orm.SCHEDULING,))
        s.expire_all()
        for bad in ({}, {"name": "a b"}, {"name": "ok", "version": "v 1"}):
            with pytest.raises(DomainError) as e:
                await devenvs.save_image(ytung, s, env, bad)
            assert e.value.status == 400
        image = await devenvs.save_image(ytung, s, env, {"name": "mine", "version": "v1"})
        model = devenvs.image_model(image)
        assert model["packages"] == ["numpy==2.3.0", "torch==2.13.0"]
        assert model["image"] == "ytung/pytorch:2.13.0-cpu" and model["from_devenv"] == "dev"
        assert model["runtime"] == "local" and model["start_command"][0].endswith(
            "jupyterhub-singleuser"
        )
        ytung.runtime = "kubernetes"
        ytung.inventory = object()  # a runtime without save_image
        with pytest.raises(DomainError) as e:
            await devenvs.save_image(ytung, s, env, {"name": "mine", "version": "v2"})
        assert e.value.status == 501 and "not available" in str(e.value)
        devenvs.delete_image(s, image)
        assert s.get(orm.SavedImage, image.id) is None


async def test_local_freeze_lists_this_environment(tmp_path):
    packages = await devenvs.local_freeze(tmp_path)
    assert any(p.lower().startswith("sqlalchemy==") for p in packages)


def test_widget_renders_the_d2_columns():
    from ytung_widgets.devenvs import render_devenvs

    html = render_devenvs(
        [
            {
                "id": 4,
                "name": "a<b",
                "status": "running",
                "status_text": "运行中",
                "engine_type": "PyTorch",
                "image": "ytung/pytorch:2.13.0-cpu",
                "created": "2026-11-28T21:00:00Z",
                "time_left": 3660,
                "code_dir": "/home/ann/x",
                "description": "d",
                "privileged": True,
                "lab_url": "/user/ann/devenv-4/lab",
                "ssh": {"command": "ssh -p 2222 ann@h"},
            }
        ],
        lambda m, **k: m,
    )
    assert '<a href="/user/ann/devenv-4/lab" target="_blank">a&lt;b</a>' in html
    for cell in (
        "运行中",
        "PyTorch ytung/pytorch:2.13.0-cpu",
        "2026-11-28 21:00",
        "1:01",
        "/home/ann/x",
        "<td>Yes</td>",
        "<code>ssh -p 2222 ann@h</code>",
    ):
        assert cell in html, cell
    assert "No dev environments yet" in render_devenvs([], lambda m, **k: m)


# -- servers spawned from the hub's own page are dev environments too (D2) ------------------
async def hub_spawn(ytung, server_name: str, image: str = "", **fields):
    """What the spawner's POST /workloads does for a spawn from the hub page, then the
    handler's adoption of it."""
    body = {
        "owner": "ann",
        "kind": "devenv",
        "name": server_name or "default",
        "server_name": server_name,
        "origin": "hub",
        **fields,
    }
    wid, _ = await ytung.admission.submit(body, None, trusted=True)
    with ytung.admission.sessions() as s:
        return devenvs.adopt_hub_workload(s, s.get(orm.Workload, wid), ytung, image).id, wid


async def test_a_hub_spawn_lists_the_image_the_spawner_runs(world):
    """Kubernetes: the hub's spawner runs its own image (singleuser.image); D2 says so."""
    ytung, sessions = world
    await hub_spawn(ytung, "lab", image="registry.example.com/ytung/lab:0.1.0")
    with sessions() as s:
        (env,) = devenvs.list_devenvs(s, "ann")
        assert (env.engine_source, env.image) == ("custom", "registry.example.com/ytung/lab:0.1.0")
        assert devenvs.current_run(s, env).user_options["devenv"]["image"] == env.image


async def test_hub_spawn_is_listed_and_controlled_like_the_others(world):
    ytung, sessions = world
    env_id, wid = await hub_spawn(ytung, "", device_type=NVIDIA_GPU, devices_per_node=1)
    with sessions() as s:
        (env,) = devenvs.list_devenvs(s, "ann")
        run = devenvs.current_run(s, env)
        assert (env.id, env.workload_id, env.hub_server) == (env_id, wid, "")
        assert env.name == "default" and env.code_dir == "/home/ann"
        engine = devenvs.DEFAULT_ENGINES[0]
        assert (env.engine_source, env.engine, env.image) == (
            "preset",
            engine["name"],
            engine["image"],
        )
        assert (env.vc, env.device_type, env.devices_per_node) == ("default", NVIDIA_GPU, 1)
        # the spawner reads the environment from the workload: its variables and SSH work
        assert run.user_options["devenv"]["id"] == env.id
        assert run.server_name == "" and run.origin == "hub"
        assert (Path(ytung.data_dir) / "home" / "ann").is_dir()
        model = devenvs.devenv_model(env, run, lambda m, **k: m, None, 0)
        assert model["status"] == "scheduling" and model["stoppable"] and model["hub_server"] == ""
        await ytung.admission.mark(wid, orm.RUNNING, (orm.SCHEDULING,))
        s.expire_all()
        model = devenvs.devenv_model(env, devenvs.current_run(s, env), lambda m, **k: m, None, 0)
        assert model["lab_url"] == "/user/ann/lab" and model["proxy_url"] == "/user/ann/proxy/"
        # the same spawn asked again (a retried request) keeps one environment
        again, same = await hub_spawn(ytung, "", device_type=NVIDIA_GPU, devices_per_node=1)
        assert (again, same) == (env.id, wid)
        # stopped from the platform's side: the hub server's workload stops
        await devenvs.stop(ytung, s, env)
        s.expire_all()
        assert devenvs.current_run(s, env).status == orm.CLOSED
        assert ytung.reconciler.stopped == [wid]
        # started again from the platform: the same hub server, started by the service
        await devenvs.start(ytung, s, env, orm.User.find(s, "ann"))
        s.expire_all()
        rerun = devenvs.current_run(s, env)
        assert rerun.id != wid and rerun.server_name == "" and rerun.origin == "service"
        assert rerun.user_options["devenv"]["id"] == env.id and rerun.devices_per_node == 1
        # stopped from the hub's side: the spawner reports it, and D2 shows it closed
        await ytung.admission.release(rerun.id, orm.CLOSED)
        s.expire_all()
        model = devenvs.devenv_model(env, devenvs.current_run(s, env), lambda m, **k: m, None, 0)
        assert model["status"] == "closed" and model["startable"]


async def test_hub_spawn_names_never_clash(world):
    ytung, sessions = world
    with sessions() as s:
        ann = orm.User.find(s, "ann")
        await devenvs.create(ytung, s, ann, {"name": "gpu", "engine": "pytorch-2.13-cpu"})
    gpu_id, _ = await hub_spawn(ytung, "gpu")
    default_id, _ = await hub_spawn(ytung, "")
    with sessions() as s:
        names = {e.id: (e.name, e.hub_server) for e in devenvs.list_devenvs(s, "ann")}
    assert names[gpu_id] == ("gpu-2", "gpu") and names[default_id] == ("default", "")
    assert len(names) == 3
    # a workload of another kind or origin is not adopted
    wid, _ = await ytung.admission.submit({"kind": "training"}, _ann(sessions))
    with sessions() as s:
        assert devenvs.adopt_hub_workload(s, s.get(orm.Workload, wid), ytung) is None
        assert devenvs.adopt_hub_workload(s, None, ytung) is None


def _ann(sessions):
    with sessions() as s:
        u = orm.User.find(s, "ann")
        s.expunge_all()
        return u


async def test_unapproved_dev_environment(world):
    ytung, sessions = world
    with sessions() as s:
        orm.Vc.find(s, "default").approval_required = True
        s.commit()
        ann = orm.User.find(s, "ann")
        env = await devenvs.create(ytung, s, ann, {"name": "dev", "engine": "pytorch-2.13-cpu"})
        run = devenvs.current_run(s, env)
        assert run.status == orm.UNAPPROVED and ytung.reconciler.started == []
        zh = translator("zh_CN")
        model = devenvs.devenv_model(env, run, zh, None, 0)
        assert model["status"] == "unapproved" and model["status_text"] == "未批准"
        assert model["stoppable"] and model["deletable"] and not model["startable"]
        assert model["reason"]["code"] == "unapproved"
        # the owner deletes it while it waits: the run is withdrawn, the record goes
        await devenvs.remove(ytung, s, env)
        assert s.get(orm.DevEnv, env.id) is None
        assert s.get(orm.Workload, run.id).status == orm.CLOSED
