"""The kubernetes runtime's inventory: Node objects → scheduler nodes (golden tests), and the lister."""

from __future__ import annotations

import copy
import logging
import sys

import pytest
from runtime_fakes import FakeCoreV1

from ytung_service.runtimes import KubernetesInventory, make_inventory
from ytung_service.runtimes.kubernetes import nodes_from_k8s, parse_count
from ytung_service.scheduling import HUAWEI_NPU, NVIDIA_GPU, Node

EIGHT = tuple(range(8))


def k8s_node(
    name: str,
    allocatable: dict | None = None,
    *,
    arch: str | None = "amd64",
    ready: str | None = "True",
    unschedulable: bool | None = None,
    labels: dict | None = None,
    annotations: dict | None = None,
) -> dict:
    """A Node object as ``kubectl get nodes -o json`` prints one (trimmed to what matters)."""
    all_labels = {
        "kubernetes.io/hostname": name,
        "kubernetes.io/os": "linux",
        **({"kubernetes.io/arch": arch, "beta.kubernetes.io/arch": arch} if arch else {}),
        **(labels or {}),
    }
    obj: dict = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": all_labels, "annotations": annotations or {}},
        "spec": {"podCIDR": "10.244.1.0/24"},
        "status": {
            "allocatable": {
                "cpu": "63800m",
                "ephemeral-storage": "846624548Ki",
                "memory": "1056215100Ki",
                "pods": "110",
                **(allocatable or {}),
            },
            "conditions": [
                {
                    "type": "MemoryPressure",
                    "status": "False",
                    "reason": "KubeletHasSufficientMemory",
                },
                {"type": "DiskPressure", "status": "False", "reason": "KubeletHasNoDiskPressure"},
            ],
            "nodeInfo": {"architecture": arch or "", "kubeletVersion": "v1.31.4"},
        },
    }
    if ready is not None:
        obj["status"]["conditions"].append(
            {"type": "Ready", "status": ready, "reason": "KubeletReady"}
        )
    if unschedulable is not None:
        obj["spec"]["unschedulable"] = unschedulable
    return obj


GPU_NODE = k8s_node("gpu-1", {"nvidia.com/gpu": "8"})
NPU_NODE = k8s_node("npu-1", {"huawei.com/Ascend910": "8"}, arch="arm64")
CPU_NODE = k8s_node("cpu-1")


def test_gpu_npu_and_cpu_nodes():
    assert nodes_from_k8s([NPU_NODE, CPU_NODE, GPU_NODE]) == [
        Node("gpu-1", NVIDIA_GPU, EIGHT, arch="amd64"),
        Node("npu-1", HUAWEI_NPU, EIGHT, arch="arm64"),
    ]


def test_empty_and_cpu_only_clusters():
    assert nodes_from_k8s([]) == []
    assert nodes_from_k8s([CPU_NODE, k8s_node("cpu-2", {"nvidia.com/gpu": "0"})]) == []


@pytest.mark.parametrize("ready", ["False", "Unknown", None])
def test_not_ready_nodes_are_skipped(ready):
    assert nodes_from_k8s([k8s_node("gpu-1", {"nvidia.com/gpu": "8"}, ready=ready)]) == []


def test_cordoned_nodes_are_skipped_and_uncordoned_kept():
    cordoned = k8s_node("gpu-1", {"nvidia.com/gpu": "8"}, unschedulable=True)
    uncordoned = k8s_node("gpu-2", {"nvidia.com/gpu": "8"}, unschedulable=False)
    assert [n.name for n in nodes_from_k8s([cordoned, uncordoned])] == ["gpu-2"]


@pytest.mark.parametrize(
    "where, value, unhealthy",
    [
        ("labels", "3_5", {3, 5}),
        ("labels", "3.5", {3, 5}),
        ("labels", "7", {7}),
        ("annotations", "3,5", {3, 5}),
        ("annotations", " 0, 1 ,", {0, 1}),
        ("labels", "", set()),
    ],
)
def test_unhealthy_devices_from_label_or_annotation(where, value, unhealthy):
    obj = k8s_node("npu-1", {"huawei.com/Ascend910": "8"}, arch="arm64")
    obj["metadata"][where]["ytung.io/unhealthy-devices"] = value
    (node,) = nodes_from_k8s([obj])
    assert node.unhealthy == unhealthy
    assert node.devices == EIGHT


def test_unhealthy_label_and_annotation_add_up_and_bad_ids_are_ignored(caplog):
    obj = k8s_node(
        "gpu-1",
        {"nvidia.com/gpu": "4"},
        labels={"ytung.io/unhealthy-devices": "1_x"},
        annotations={"ytung.io/unhealthy-devices": "2,9,-1"},
    )
    with caplog.at_level(logging.WARNING):
        (node,) = nodes_from_k8s([obj])
    assert node.unhealthy == {1, 2}
    assert "'x'" in caplog.text and "'9'" in caplog.text and "'-1'" in caplog.text


@pytest.mark.parametrize(
    "quantity, count",
    [
        ("8", 8),
        (8, 8),
        (" 4 ", 4),
        ("8000m", 8),
        ("1e1", 10),
        ("2k", 2000),
        ("0", 0),
        ("1Ki", 1024),
    ],
)
def test_parse_count(quantity, count):
    assert parse_count(quantity) == count


@pytest.mark.parametrize("quantity", ["1500m", "eight", "", "8x", "1.5", None, True, "--1"])
def test_parse_count_refuses_what_is_not_a_whole_count(quantity):
    assert parse_count(quantity) is None


def test_quantity_strings_on_nodes(caplog):
    objs = [
        k8s_node("a", {"nvidia.com/gpu": "4000m"}),
        k8s_node("b", {"nvidia.com/gpu": "1500m"}),
        k8s_node("c", {"nvidia.com/gpu": "-2"}),
        k8s_node("d", {"nvidia.com/gpu": 2}),
    ]
    with caplog.at_level(logging.WARNING):
        nodes = nodes_from_k8s(objs)
    assert [(n.name, n.devices) for n in nodes] == [("a", (0, 1, 2, 3)), ("d", (0, 1))]
    assert "'1500m'" in caplog.text and "'-2'" in caplog.text


def test_big_gpu_nodes_are_kept_but_npu_nodes_over_eight_skipped():
    objs = [
        k8s_node("hgx", {"nvidia.com/gpu": "16"}),
        k8s_node("npu-16", {"huawei.com/Ascend910": "16"}, arch="arm64"),
    ]
    assert [(n.name, len(n.devices)) for n in nodes_from_k8s(objs)] == [("hgx", 16)]


def test_arch_contradicting_the_device_type_skips_the_node(caplog):
    objs = [
        k8s_node("gh200", {"nvidia.com/gpu": "1"}, arch="arm64"),
        k8s_node("npu-x86", {"huawei.com/Ascend910": "8"}, arch="amd64"),
    ]
    with caplog.at_level(logging.WARNING):
        assert nodes_from_k8s(objs) == []
    assert "gh200: architecture arm64 contradicts" in caplog.text


def test_arch_falls_back_to_beta_label_node_info_then_the_type():
    beta = k8s_node(
        "a", {"nvidia.com/gpu": "1"}, arch=None, labels={"beta.kubernetes.io/arch": "arm64"}
    )
    info = k8s_node("b", {"nvidia.com/gpu": "1"}, arch=None)
    info["status"]["nodeInfo"]["architecture"] = "arm64"
    none = k8s_node("c", {"huawei.com/Ascend910": "8"}, arch=None)
    assert [(n.name, n.arch) for n in nodes_from_k8s([beta, info, none])] == [("c", "arm64")]


def test_gpus_and_npus_on_one_node_follow_the_arch(caplog):
    both = {"nvidia.com/gpu": "2", "huawei.com/Ascend910": "8"}
    with caplog.at_level(logging.WARNING):
        nodes = nodes_from_k8s(
            [
                k8s_node("x", both, arch="amd64"),
                k8s_node("y", both, arch="arm64"),
                k8s_node("z", both, arch=None),
            ]
        )
    assert [(n.name, n.device_type, len(n.devices)) for n in nodes] == [
        ("x", NVIDIA_GPU, 2),
        ("y", HUAWEI_NPU, 8),
        ("z", NVIDIA_GPU, 2),  # no architecture known: GPUs first, deterministically
    ]
    assert "Node z has huawei_npu_arm64 as well; using only nvidia_gpu_amd64" in caplog.text


def test_sparse_and_odd_objects_do_not_crash():
    objs = [
        {},
        {"metadata": {"name": "bare"}},
        {"metadata": {"name": "nulls", "labels": None}, "spec": None, "status": None},
        {
            "metadata": {"name": "gpu"},
            "status": {"allocatable": {"nvidia.com/gpu": "1"}, "conditions": None},
        },
        {
            "metadata": {"name": "ok"},
            "status": {
                "allocatable": {"nvidia.com/gpu": "1"},
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        },
    ]
    assert nodes_from_k8s(objs) == [Node("ok", NVIDIA_GPU, (0,), arch="amd64")]


def test_input_is_not_modified():
    objs = [GPU_NODE, NPU_NODE]
    before = copy.deepcopy(objs)
    nodes_from_k8s(objs)
    assert objs == before


# --- KubernetesInventory ---------------------------------------------------------------------------


async def test_inventory_lists_nodes_through_the_injected_core_api():
    core = FakeCoreV1([GPU_NODE, CPU_NODE, NPU_NODE])
    inventory = KubernetesInventory(api_client_factory=lambda: core)
    assert [n.name for n in await inventory.nodes()] == ["gpu-1", "npu-1"]
    assert core.calls == 1


async def test_inventory_accepts_an_async_factory_and_dict_answers():
    class DictCoreV1(FakeCoreV1):
        async def list_node(self, **kwargs):
            return {"items": self.items}

    async def factory():
        return DictCoreV1([NPU_NODE])

    assert await KubernetesInventory(factory).nodes() == [Node("npu-1", HUAWEI_NPU, EIGHT)]


async def test_inventory_serialises_real_client_models():
    from kubernetes_asyncio import client

    node = client.V1Node(
        metadata=client.V1ObjectMeta(name="gpu-1", labels={"kubernetes.io/arch": "amd64"}),
        spec=client.V1NodeSpec(unschedulable=False),
        status=client.V1NodeStatus(
            allocatable={"cpu": "64", "nvidia.com/gpu": "8"},
            conditions=[client.V1NodeCondition(type="Ready", status="True")],
        ),
    )
    api = client.ApiClient()

    class ModelCoreV1(FakeCoreV1):
        async def list_node(self, **kwargs):
            return client.V1NodeList(items=[node])

    try:
        core = ModelCoreV1([], api_client=api)
        assert await KubernetesInventory(lambda: core).nodes() == [Node("gpu-1", NVIDIA_GPU, EIGHT)]
    finally:
        await api.close()


def test_module_imports_stay_light():
    assert make_inventory("kubernetes", api_client_factory=lambda: None).api_client_factory
    # the kubernetes client is imported by the methods that use it, not by the package
    import subprocess

    code = (
        "import sys, ytung_service.runtimes; "
        "print(any(m.startswith(('kubernetes_asyncio', 'kubespawner')) for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
