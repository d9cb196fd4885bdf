"""Golden tests of the pure Kubernetes objects of a workload (``ytung_spawner/objects.py``)."""

from __future__ import annotations

import copy

import pytest

from ytung_spawner import objects
from ytung_spawner.objects import DataVolume, Rendezvous
from ytung_spawner.resources import Limits

V6 = Limits(cpu_guarantee="2", mem_guarantee="400Mi", cpu_limit="22", mem_limit="80Gi")

#: the pod KubeSpawner's make_pod gives for a server (trimmed to what matters)
BASE = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {
        "name": "jupyter-ada--devenv-7",
        "labels": {
            "app": "jupyterhub",
            "component": "singleuser-server",
            "hub.jupyter.org/username": "ada",
        },
        "annotations": {"hub.jupyter.org/username": "ada"},
    },
    "spec": {
        "automountServiceAccountToken": False,
        "containers": [
            {
                "name": "notebook",
                "image": "quay.io/jupyterhub/k8s-singleuser-sample:4.1.0",
                "args": ["jupyterhub-singleuser"],
                "env": [
                    {"name": "JUPYTERHUB_API_TOKEN", "value": "secret"},
                    {
                        "name": "JUPYTERHUB_SERVICE_URL",
                        "value": "http://0.0.0.0:8888/user/ada/devenv-7/",
                    },
                    {"name": "CUDA_VISIBLE_DEVICES", "value": "2,3"},
                    {"name": "YTUNG_WORKLOAD_ID", "value": "7"},
                ],
                "ports": [{"containerPort": 8888, "name": "notebook-port"}],
                "resources": {"limits": {}, "requests": {}},
                "securityContext": {"runAsUser": 1000, "runAsGroup": 100},
                "volumeMounts": [],
            }
        ],
        "restartPolicy": "OnFailure",
        "securityContext": {"fsGroup": 100},
        "volumes": [],
    },
}

GPU_WORKLOAD = {
    "id": 7,
    "kind": "devenv",
    "owner": "ada",
    "vc": "vision",
    "device_type": "nvidia_gpu_amd64",
    "devices_per_node": 2,
    "nodes": 1,
    "placement": {"gpu-1": [2, 3]},
}

PIN_GPU_1 = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["gpu-1"]}]}
            ]
        }
    }
}


def test_gpu_pod_limits_pinning_arch_labels():
    pod = objects.make_workload_pod(BASE, GPU_WORKLOAD, limits=V6)
    assert pod == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "jupyter-ada--devenv-7",
            "labels": {
                "app": "jupyterhub",
                "component": "singleuser-server",
                "hub.jupyter.org/username": "ada",
                "ytung.io/workload-id": "7",
                "ytung.io/kind": "devenv",
                "ytung.io/owner": "ada",
                "ytung.io/vc": "vision",
                "ytung.io/rank": "0",
            },
            "annotations": {
                "hub.jupyter.org/username": "ada",
                "ytung.io/owner": "ada",
                "ytung.io/placement": '{"gpu-1": [2, 3]}',
                "ytung.io/device-ids": "2,3",
            },
        },
        "spec": {
            "automountServiceAccountToken": False,
            "containers": [
                {
                    "name": "notebook",
                    "image": "quay.io/jupyterhub/k8s-singleuser-sample:4.1.0",
                    "args": ["jupyterhub-singleuser"],
                    "env": [
                        {"name": "JUPYTERHUB_API_TOKEN", "value": "secret"},
                        {
                            "name": "JUPYTERHUB_SERVICE_URL",
                            "value": "http://0.0.0.0:8888/user/ada/devenv-7/",
                        },
                        {"name": "YTUNG_WORKLOAD_ID", "value": "7"},
                        {"name": "YTUNG_DEVICE_IDS", "value": "2,3"},
                        {"name": "YTUNG_NODE", "value": "gpu-1"},
                    ],
                    "ports": [{"containerPort": 8888, "name": "notebook-port"}],
                    "resources": {
                        "requests": {"cpu": "2", "memory": "400Mi"},
                        "limits": {"cpu": "22", "memory": "80Gi", "nvidia.com/gpu": "2"},
                    },
                    "securityContext": {"runAsUser": 1000, "runAsGroup": 100},
                    "volumeMounts": [],
                }
            ],
            "restartPolicy": "OnFailure",
            "securityContext": {"fsGroup": 100},
            "volumes": [],
            "affinity": PIN_GPU_1,
            "nodeSelector": {"kubernetes.io/arch": "amd64"},
        },
    }


def test_the_base_pod_is_not_modified():
    before = copy.deepcopy(BASE)
    objects.make_workload_pod(BASE, GPU_WORKLOAD, limits=V6, privileged=True, data=DataVolume("d"))
    assert BASE == before


def test_npu_pod_gets_ascend_limits_and_arm64():
    workload = {
        **GPU_WORKLOAD,
        "device_type": "huawei_npu_arm64",
        "devices_per_node": 4,
        "placement": {"npu-2": [4, 5, 6, 7]},
    }
    base = copy.deepcopy(BASE)
    base["spec"]["containers"][0]["env"].append(
        {"name": "ASCEND_RT_VISIBLE_DEVICES", "value": "4,5,6,7"}
    )
    npu = Limits(cpu_guarantee="8", mem_guarantee="32Gi", cpu_limit="96", mem_limit="512Gi")
    pod = objects.make_workload_pod(base, workload, limits=npu)
    container = pod["spec"]["containers"][0]
    assert container["resources"] == {
        "requests": {"cpu": "8", "memory": "32Gi"},
        "limits": {"cpu": "96", "memory": "512Gi", "huawei.com/Ascend910": "4"},
    }
    assert pod["spec"]["nodeSelector"] == {"kubernetes.io/arch": "arm64"}
    assert pod["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ] == {
        "nodeSelectorTerms": [
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["npu-2"]}]}
        ]
    }
    # host ids never reach the runtime's selection variables (the plugin renumbers from 0)
    names = [e["name"] for e in container["env"]]
    assert "ASCEND_RT_VISIBLE_DEVICES" not in names and "CUDA_VISIBLE_DEVICES" not in names
    assert {"name": "YTUNG_DEVICE_IDS", "value": "4,5,6,7"} in container["env"]


def test_cpu_only_pod_is_not_pinned_and_hides_gpus():
    workload = {**GPU_WORKLOAD, "device_type": None, "devices_per_node": 0, "placement": {}}
    pod = objects.make_workload_pod(BASE, workload, limits=V6)
    assert "affinity" not in pod["spec"] and "nodeSelector" not in pod["spec"]
    container = pod["spec"]["containers"][0]
    assert container["resources"] == {
        "requests": {"cpu": "2", "memory": "400Mi"},
        "limits": {"cpu": "22", "memory": "80Gi"},
    }
    assert container["env"][-1] == {"name": "CUDA_VISIBLE_DEVICES", "value": ""}
    assert "ytung.io/device-ids" not in pod["metadata"]["annotations"]


def test_privileged_pod_runs_as_root():
    pod = objects.make_workload_pod(BASE, GPU_WORKLOAD, limits=V6, privileged=True)
    assert pod["spec"]["containers"][0]["securityContext"] == {
        "runAsUser": 0,
        "runAsGroup": 0,
        "privileged": True,
        "allowPrivilegeEscalation": True,
        "runAsNonRoot": False,
    }
    plain = objects.make_workload_pod(BASE, GPU_WORKLOAD, limits=V6)
    assert plain["spec"]["containers"][0]["securityContext"] == {
        "runAsUser": 1000,
        "runAsGroup": 100,
    }


def test_data_root_mounts_match_the_service_layout():
    """A dev environment gets its owner's home and the models, nothing of other users: no
    ``jobs`` (other users' logs), no ``datasets`` (private ones, uploads in progress)."""
    pod = objects.make_workload_pod(
        BASE, GPU_WORKLOAD, limits=V6, data=DataVolume("ytung-data", "/srv/ytung")
    )
    container = pod["spec"]["containers"][0]
    assert pod["spec"]["volumes"] == [
        {"name": "ytung-data", "persistentVolumeClaim": {"claimName": "ytung-data"}}
    ]
    assert container["volumeMounts"] == [
        {"name": "ytung-data", "mountPath": "/home/ada", "subPath": "home/ada", "readOnly": False},
        {
            "name": "ytung-data",
            "mountPath": "/srv/ytung/home/ada",
            "subPath": "home/ada",
            "readOnly": False,
        },
        {
            "name": "ytung-data",
            "mountPath": "/srv/ytung/models",
            "subPath": "models",
            "readOnly": True,
        },
    ]
    assert container["workingDir"] == "/home/ada"
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["YTUNG_DATA_DIR"] == "/srv/ytung" and env["HOME"] == "/home/ada"


TRAINING_WORKLOAD = {
    **GPU_WORKLOAD,
    "kind": "training",
    "user_options": {
        "job": {"id": 42, "data_path": "/srv/ytung/datasets/3/2", "job_dir": "/srv/ytung/jobs/42"},
        "dataset": {"id": 3, "version": 2},
    },
}


def test_training_mounts_only_its_job_dir_and_its_dataset_version():
    pod = objects.make_workload_pod(
        BASE, TRAINING_WORKLOAD, limits=V6, data=DataVolume("ytung-data", "/srv/ytung/")
    )
    mounts = pod["spec"]["containers"][0]["volumeMounts"]
    assert mounts[2:] == [
        {
            "name": "ytung-data",
            "mountPath": "/srv/ytung/models",
            "subPath": "models",
            "readOnly": True,
        },
        {
            "name": "ytung-data",
            "mountPath": "/srv/ytung/datasets/3/2",
            "subPath": "datasets/3/2",
            "readOnly": True,
        },
        {
            "name": "ytung-data",
            "mountPath": "/srv/ytung/jobs/42",
            "subPath": "jobs/42",
            "readOnly": False,
        },
    ]
    # the workers of a distributed run get the same (and nothing more)
    workers = objects.make_worker_pods(
        BASE,
        {**TRAINING_WORKLOAD, "placement": {"gpu-1": [0], "gpu-2": [0]}},
        limits=V6,
        rendezvous=Rendezvous("ytung-7", "ytung"),
        command=["sleep", "infinity"],
        data=DataVolume("ytung-data", "/srv/ytung"),
    )
    assert workers[0]["spec"]["containers"][0]["volumeMounts"] == mounts


@pytest.mark.parametrize(
    "data_path",
    [
        "/srv/ytung/datasets/../home/bob",  # another user's home through the dataset mount
        "/srv/ytung/datasets/.uploads/abc",
        "/srv/ytung/datasets/3",  # every version of a dataset
        "/srv/ytung/datasets",
        "/mnt/nfs/registered",  # a registered server path under no configured root
        "/mnt/nfs-other/x",  # a root's name as a prefix is not the root
        "/srv/ytung/jobs/41",
    ],
)
def test_a_training_data_path_no_volume_holds_is_refused(data_path):
    """The run could not read its data: it does not start (the spawner says why)."""
    workload = copy.deepcopy(TRAINING_WORKLOAD)
    workload["user_options"]["job"]["data_path"] = data_path
    with pytest.raises(objects.UnmountablePath) as e:
        objects.make_workload_pod(
            BASE,
            workload,
            limits=V6,
            data=DataVolume("ytung-data", "/srv/ytung"),
            path_volumes=[objects.PathVolume("/mnt/nfs/datasets")],
        )
    assert e.value.path == data_path


def test_no_data_path_mounts_no_dataset():
    workload = copy.deepcopy(TRAINING_WORKLOAD)
    workload["user_options"]["job"]["data_path"] = None
    pod = objects.make_workload_pod(
        BASE, workload, limits=V6, data=DataVolume("ytung-data", "/srv/ytung")
    )
    subs = [m["subPath"] for m in pod["spec"]["containers"][0]["volumeMounts"]]
    assert subs == ["home/ada", "home/ada", "models", "jobs/42"]


def test_a_registered_server_path_is_mounted_read_only_at_its_own_path():
    """S1 server paths on Kubernetes: only the run's dataset directory, read-only, at the
    path the service recorded; hostPath of the root by default, or the volume configured."""
    workload = copy.deepcopy(TRAINING_WORKLOAD)
    workload["user_options"]["job"]["data_path"] = "/mnt/nfs/datasets/coco/v1"
    volumes = [
        objects.PathVolume("/data/public"),
        objects.PathVolume("/mnt/nfs/datasets", {"persistentVolumeClaim": {"claimName": "nfs"}}),
        objects.PathVolume("/mnt/nfs/datasets/coco", {"nfs": {"server": "n1", "path": "/c"}}),
    ]
    pod = objects.make_workload_pod(
        BASE, workload, limits=V6, data=DataVolume("ytung-data", "/srv/ytung"), path_volumes=volumes
    )
    name = volumes[2].volume_name()
    assert name.startswith("ytung-path-mnt-nfs-datasets-coco-") and len(name) <= 63
    assert pod["spec"]["volumes"] == [
        {"name": "ytung-data", "persistentVolumeClaim": {"claimName": "ytung-data"}},
        {"name": name, "nfs": {"server": "n1", "path": "/c"}},  # the deepest root holds it
    ]
    mounts = pod["spec"]["containers"][0]["volumeMounts"]
    assert mounts[-1] == {
        "name": name,
        "mountPath": "/mnt/nfs/datasets/coco/v1",
        "subPath": "v1",
        "readOnly": True,
    }
    assert [m["subPath"] for m in mounts[:-1]] == ["home/ada", "home/ada", "models", "jobs/42"]
    # the root itself, as hostPath (the default)
    workload["user_options"]["job"]["data_path"] = "/data/public/"
    pod = objects.make_workload_pod(
        BASE, workload, limits=V6, data=DataVolume("ytung-data", "/srv/ytung"), path_volumes=volumes
    )
    public = volumes[0].volume_name()
    assert pod["spec"]["volumes"][-1] == {
        "name": public,
        "hostPath": {"path": "/data/public", "type": "Directory"},
    }
    assert pod["spec"]["containers"][0]["volumeMounts"][-1] == {
        "name": public,
        "mountPath": "/data/public",
        "readOnly": True,
    }
    # and the workers of a distributed run the same
    (worker,) = objects.make_worker_pods(
        BASE,
        {**workload, "placement": {"gpu-1": [0], "gpu-2": [0]}},
        limits=V6,
        rendezvous=Rendezvous("ytung-7", "ytung"),
        command=["x"],
        data=DataVolume("ytung-data", "/srv/ytung"),
        path_volumes=volumes,
    )
    assert worker["spec"]["containers"][0]["volumeMounts"][-1]["mountPath"] == "/data/public"


@pytest.mark.parametrize("owner", ["..", ".", "", "a/../../jobs", "x\\y"])
def test_a_user_name_that_is_no_directory_is_refused(owner):
    with pytest.raises(ValueError):
        objects.make_workload_pod(
            BASE,
            {**GPU_WORKLOAD, "owner": owner},
            limits=V6,
            data=DataVolume("ytung-data", "/srv/ytung"),
        )


@pytest.mark.parametrize(
    "value, label",
    [("ada", "ada"), ("张三", ""), ("a b/c", "a-b-c"), ("-x-", "x"), ("x" * 80, "x" * 63)],
)
def test_label_values_are_valid(value, label):
    assert objects.label_value(value) == label


def test_owner_label_is_sanitised_and_the_annotation_exact():
    pod = objects.make_workload_pod(BASE, {**GPU_WORKLOAD, "owner": "li.ming@lab"}, limits=V6)
    assert pod["metadata"]["labels"]["ytung.io/owner"] == "li.ming-lab"
    assert pod["metadata"]["annotations"]["ytung.io/owner"] == "li.ming@lab"


# --- distributed ---------------------------------------------------------------------------
TWO_NODES = {
    **GPU_WORKLOAD,
    "id": 12,
    "kind": "job",
    "nodes": 2,
    "devices_per_node": 8,
    "placement": {"gpu-1": list(range(8)), "gpu-2": list(range(8))},
}
RDZV = Rendezvous("ytung-12", "ytung", 29500)


def test_master_pod_has_the_torch_distributed_env_and_a_hostname():
    pod = objects.make_workload_pod(BASE, TWO_NODES, limits=V6, rendezvous=RDZV)
    env = pod["spec"]["containers"][0]["env"]
    assert env[-6:] == [
        {"name": "MASTER_ADDR", "value": "ytung-12-0.ytung-12.ytung.svc"},
        {"name": "MASTER_PORT", "value": "29500"},
        {"name": "RANK", "value": "0"},
        {"name": "WORLD_SIZE", "value": "2"},
        # the job runner of this pod runs node 0's ranks of 2 nodes
        {"name": "YTUNG_NODE_RANK", "value": "0"},
        {"name": "YTUNG_NODE_COUNT", "value": "2"},
    ]
    assert pod["spec"]["hostname"] == "ytung-12-0" and pod["spec"]["subdomain"] == "ytung-12"
    assert pod["spec"]["affinity"] == PIN_GPU_1


def test_every_pod_of_one_start_gets_its_run_attempt():
    """The job runner's status files of a start are its own (``YTUNG_RUN_ATTEMPT``): master and
    workers of one start share the token; a start without one sets nothing."""
    rdzv = Rendezvous("ytung-12", "ytung", 29500, attempt="5f0c2a9e11d04b7a")
    master = objects.make_workload_pod(BASE, TWO_NODES, limits=V6, rendezvous=rdzv)
    (worker,) = objects.make_worker_pods(
        BASE, TWO_NODES, limits=V6, rendezvous=rdzv, command=["sleep", "infinity"]
    )
    for pod in (master, worker):
        env = pod["spec"]["containers"][0]["env"]
        assert env[-1] == {"name": "YTUNG_RUN_ATTEMPT", "value": "5f0c2a9e11d04b7a"}
    plain = objects.make_workload_pod(BASE, TWO_NODES, limits=V6, rendezvous=RDZV)
    assert "YTUNG_RUN_ATTEMPT" not in {e["name"] for e in plain["spec"]["containers"][0]["env"]}


def test_worker_pods_one_per_extra_node():
    (worker,) = objects.make_worker_pods(
        BASE, TWO_NODES, limits=V6, rendezvous=RDZV, command=["sleep", "infinity"]
    )
    assert worker == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "ytung-12-worker-1",
            "labels": {
                "app": "jupyterhub",
                "component": "ytung-worker",
                "hub.jupyter.org/username": "ada",
                "ytung.io/workload-id": "12",
                "ytung.io/kind": "job",
                "ytung.io/owner": "ada",
                "ytung.io/vc": "vision",
                "ytung.io/rank": "1",
            },
            "annotations": {
                "hub.jupyter.org/username": "ada",
                "ytung.io/owner": "ada",
                "ytung.io/placement": '{"gpu-1": [0, 1, 2, 3, 4, 5, 6, 7], "gpu-2": [0, 1, 2, 3, 4, 5, 6, 7]}',
                "ytung.io/device-ids": "0,1,2,3,4,5,6,7",
            },
        },
        "spec": {
            "automountServiceAccountToken": False,
            "containers": [
                {
                    "name": "notebook",
                    "image": "quay.io/jupyterhub/k8s-singleuser-sample:4.1.0",
                    "command": ["sleep", "infinity"],
                    "env": [
                        {"name": "YTUNG_WORKLOAD_ID", "value": "7"},
                        {"name": "YTUNG_DEVICE_IDS", "value": "0,1,2,3,4,5,6,7"},
                        {"name": "YTUNG_NODE", "value": "gpu-2"},
                        {"name": "MASTER_ADDR", "value": "ytung-12-0.ytung-12.ytung.svc"},
                        {"name": "MASTER_PORT", "value": "29500"},
                        {"name": "RANK", "value": "1"},
                        {"name": "WORLD_SIZE", "value": "2"},
                        {"name": "YTUNG_NODE_RANK", "value": "1"},
                        {"name": "YTUNG_NODE_COUNT", "value": "2"},
                    ],
                    "resources": {
                        "requests": {"cpu": "2", "memory": "400Mi"},
                        "limits": {"cpu": "22", "memory": "80Gi", "nvidia.com/gpu": "8"},
                    },
                    "securityContext": {"runAsUser": 1000, "runAsGroup": 100},
                    "volumeMounts": [],
                }
            ],
            "restartPolicy": "Never",
            "securityContext": {"fsGroup": 100},
            "volumes": [],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchFields": [
                                    {"key": "metadata.name", "operator": "In", "values": ["gpu-2"]}
                                ]
                            }
                        ]
                    }
                }
            },
            "nodeSelector": {"kubernetes.io/arch": "amd64"},
            "hostname": "ytung-12-1",
            "subdomain": "ytung-12",
        },
    }


def test_no_workers_for_one_node_and_three_for_four():
    one = objects.make_worker_pods(BASE, GPU_WORKLOAD, limits=V6, rendezvous=RDZV, command=["x"])
    assert one == []
    four = {**TWO_NODES, "placement": {f"gpu-{i}": [0] for i in range(1, 5)}}
    workers = objects.make_worker_pods(BASE, four, limits=V6, rendezvous=RDZV, command=["x"])
    assert [w["metadata"]["name"] for w in workers] == [
        "ytung-12-worker-1",
        "ytung-12-worker-2",
        "ytung-12-worker-3",
    ]
    assert [w["spec"]["hostname"] for w in workers] == ["ytung-12-1", "ytung-12-2", "ytung-12-3"]
    assert {
        e["value"]
        for w in workers
        for e in w["spec"]["containers"][0]["env"]
        if e["name"] == "WORLD_SIZE"
    } == {"4"}


def test_headless_service():
    assert objects.make_headless_service(TWO_NODES, RDZV) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "ytung-12",
            "namespace": "ytung",
            "labels": {
                "ytung.io/workload-id": "12",
                "ytung.io/kind": "job",
                "ytung.io/owner": "ada",
                "ytung.io/vc": "vision",
            },
        },
        "spec": {
            "clusterIP": "None",
            "publishNotReadyAddresses": True,
            "selector": {"ytung.io/workload-id": "12"},
            "ports": [
                {"name": "rendezvous", "port": 29500, "targetPort": 29500, "protocol": "TCP"}
            ],
        },
    }


# --- D8 ------------------------------------------------------------------------------------
def test_image_save_job():
    job = objects.make_image_save_job(
        name="ytung-save-7",
        namespace="ytung",
        node="gpu-1",
        container_id="4f2a",
        image_ref="registry.local:5000/ada/my-env:v2",
        tool_image="registry.local:5000/tools/nerdctl:2.1",
        workload=GPU_WORKLOAD,
        registry_secret="ytung-registry",
    )
    labels = {
        "ytung.io/workload-id": "7",
        "ytung.io/kind": "devenv",
        "ytung.io/owner": "ada",
        "ytung.io/vc": "vision",
        "app.kubernetes.io/component": "image-save",
    }
    assert job == {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": "ytung-save-7",
            "namespace": "ytung",
            "labels": labels,
            "annotations": {"ytung.io/image": "registry.local:5000/ada/my-env:v2"},
        },
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 3600,
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "affinity": PIN_GPU_1,
                    "containers": [
                        {
                            "name": "save",
                            "image": "registry.local:5000/tools/nerdctl:2.1",
                            "command": [
                                "sh",
                                "-c",
                                "nerdctl --namespace k8s.io commit 4f2a registry.local:5000/ada/my-env:v2"
                                " && nerdctl --namespace k8s.io push registry.local:5000/ada/my-env:v2",
                            ],
                            "securityContext": {"privileged": True, "runAsUser": 0},
                            "volumeMounts": [
                                {
                                    "name": "containerd",
                                    "mountPath": "/run/containerd/containerd.sock",
                                },
                                {
                                    "name": "registry-auth",
                                    "mountPath": "/root/.docker",
                                    "readOnly": True,
                                },
                            ],
                        }
                    ],
                    "volumes": [
                        {
                            "name": "containerd",
                            "hostPath": {
                                "path": "/run/containerd/containerd.sock",
                                "type": "Socket",
                            },
                        },
                        {
                            "name": "registry-auth",
                            "secret": {
                                "secretName": "ytung-registry",
                                "items": [{"key": ".dockerconfigjson", "path": "config.json"}],
                            },
                        },
                    ],
                },
            },
        },
    }


def test_image_save_job_quotes_and_insecure_push():
    job = objects.make_image_save_job(
        name="s",
        namespace="ns",
        node="n",
        container_id="abc",
        image_ref="reg:5000/x:1",
        tool_image="t",
        workload=GPU_WORKLOAD,
        insecure_registry=True,
    )
    spec = job["spec"]["template"]["spec"]
    assert spec["containers"][0]["command"][2].endswith(
        "nerdctl --namespace k8s.io push --insecure-registry reg:5000/x:1"
    )
    assert [v["name"] for v in spec["volumes"]] == ["containerd"]


@pytest.mark.parametrize(
    "ref, ok",
    [
        ("registry.local:5000/ada/my-env:v2", True),
        ("ada/env:1.0", True),
        ("env:latest", True),
        ("ada/env", False),  # a saved image always has a version
        ("Ada/env:1", False),
        ("ada/env:1; rm -rf /", False),
        ("", False),
        ("ada//env:1", False),
    ],
)
def test_image_references(ref, ok):
    assert objects.valid_image_ref(ref) is ok


def test_container_id():
    pod = {
        "status": {"containerStatuses": [{"name": "notebook", "containerID": "containerd://4f2a"}]}
    }
    assert objects.container_id(pod) == "4f2a"
    assert objects.container_id({"status": {}}) is None


def test_every_object_is_valid_kubernetes():
    """Strict validation against the Kubernetes 1.31 schemas (kubernetes-validate)."""
    import kubernetes_validate

    data = DataVolume("ytung-data")
    built = [
        objects.make_workload_pod(BASE, GPU_WORKLOAD, limits=V6, data=data, privileged=True),
        objects.make_workload_pod(BASE, TWO_NODES, limits=V6, rendezvous=RDZV),
        *objects.make_worker_pods(
            BASE, TWO_NODES, limits=V6, rendezvous=RDZV, command=["sleep", "infinity"], data=data
        ),
        objects.make_headless_service(TWO_NODES, RDZV),
        objects.make_workload_pod(
            BASE,
            {**TRAINING_WORKLOAD, "user_options": {"job": {"id": 4, "data_path": "/d/p/x"}}},
            limits=V6,
            data=data,
            path_volumes=[
                objects.PathVolume("/d/p"),
                objects.PathVolume("/d", {"persistentVolumeClaim": {"claimName": "d"}}),
            ],
        ),
        objects.make_image_save_job(
            name="ytung-save-7",
            namespace="ytung",
            node="gpu-1",
            container_id="4f2a",
            image_ref="reg/ada/env:v1",
            tool_image="reg/tools/nerdctl:2.1",
            workload=GPU_WORKLOAD,
            registry_secret="reg",
        ),
    ]
    for obj in built:
        kubernetes_validate.validate(obj, "1.31.0", strict=True)
