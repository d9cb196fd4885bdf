"""The local runtime's inventory: the simulated syntax, nvidia-smi / npu-smi detection, caching."""

from __future__ import annotations

import logging
import subprocess

import pytest
from runtime_fakes import NPU_SMI_8_ASCEND, NVIDIA_SMI_8_H100, FakeClock, FakeTools

from ytung_service.i18n import translator
from ytung_service.runtimes import InventoryError, LocalInventory, make_inventory
from ytung_service.runtimes.local import (
    NPU_SMI,
    NVIDIA_SMI,
    detect_ascend,
    detect_nvidia,
    machine_arch,
    parse_simulated,
)
from ytung_service.scheduling import HUAWEI_NPU, NVIDIA_GPU, Node

EIGHT = tuple(range(8))

# --- simulated -------------------------------------------------------------------------------------


def test_simulated_example_from_the_docs():
    spec = (
        "gpu-node-1:nvidia_gpu_amd64=8;npu-node-1:huawei_npu_arm64=8;npu-node-2:huawei_npu_arm64=8"
    )
    assert parse_simulated(spec) == [
        Node("gpu-node-1", NVIDIA_GPU, EIGHT, arch="amd64"),
        Node("npu-node-1", HUAWEI_NPU, EIGHT, arch="arm64"),
        Node("npu-node-2", HUAWEI_NPU, EIGHT, arch="arm64"),
    ]


def test_simulated_tolerates_whitespace_and_reads_unhealthy_devices():
    spec = "  gpu-a : nvidia_gpu_amd64 = 4 ! 1 , 3 ;\n npu.b:huawei_npu_arm64=8!7\t"
    gpu, npu = parse_simulated(spec)
    assert gpu == Node("gpu-a", NVIDIA_GPU, (0, 1, 2, 3), unhealthy=frozenset({1, 3}))
    assert gpu.healthy == (0, 2)
    assert npu.name == "npu.b" and npu.unhealthy == {7}


@pytest.mark.parametrize("spec", ["", "   ", "\n"])
def test_blank_simulated_spec_is_no_devices(spec):
    assert parse_simulated(spec) == []


@pytest.mark.parametrize(
    "spec, expected",
    [
        (
            "gpu-1:nvidia_gpu_amd64=8;;gpu-2:nvidia_gpu_amd64=8",
            "Entry 2 of the simulated devices is empty",
        ),
        ("gpu-1:nvidia_gpu_amd64=8;", "Entry 2 of the simulated devices is empty"),
        (";gpu-1:nvidia_gpu_amd64=8", "Entry 1 of the simulated devices is empty"),
        ("gpu-1", "Cannot read 'gpu-1'"),
        ("gpu-1=8", "Cannot read 'gpu-1=8'"),
        ("gpu-1:nvidia_gpu_amd64", "Cannot read 'gpu-1:nvidia_gpu_amd64'"),
        ("garbage!!", "Cannot read 'garbage!!'"),
        (":nvidia_gpu_amd64=8", "Bad node name '' in ':nvidia_gpu_amd64=8'"),
        ("my node:nvidia_gpu_amd64=8", "Bad node name 'my node'"),
        ("-gpu:nvidia_gpu_amd64=8", "Bad node name '-gpu'"),
        (
            "gpu-1:tpu=8",
            "Unknown device type 'tpu' in 'gpu-1:tpu=8'; use one of nvidia_gpu_amd64, huawei_npu_arm64",
        ),
        ("gpu-1:nvidia_gpu_arm64=8", "Unknown device type 'nvidia_gpu_arm64'"),
        ("gpu-1:NVIDIA_GPU_AMD64=8", "Unknown device type 'NVIDIA_GPU_AMD64'"),
        (
            "gpu-1:nvidia_gpu_amd64=eight",
            "Device count 'eight' in 'gpu-1:nvidia_gpu_amd64=eight' is not a whole number",
        ),
        ("gpu-1:nvidia_gpu_amd64=2.5", "Device count '2.5'"),
        ("gpu-1:nvidia_gpu_amd64=", "Device count ''"),
        ("gpu-1:nvidia_gpu_amd64=1_0", "Device count '1_0'"),
        (
            "gpu-1:nvidia_gpu_amd64=-1",
            "A GPU node has 1 to 8 GPUs; got -1 in 'gpu-1:nvidia_gpu_amd64=-1'",
        ),
        ("gpu-1:nvidia_gpu_amd64=0", "A GPU node has 1 to 8 GPUs; got 0"),
        ("gpu-1:nvidia_gpu_amd64=9", "A GPU node has 1 to 8 GPUs; got 9"),
        ("npu-1:huawei_npu_arm64=4", "An NPU node has 8 NPUs; got 4 in 'npu-1:huawei_npu_arm64=4'"),
        ("npu-1:huawei_npu_arm64=16", "An NPU node has 8 NPUs; got 16"),
        ("npu-1:huawei_npu_arm64=-8", "An NPU node has 8 NPUs; got -8"),
        (
            "gpu-1:nvidia_gpu_amd64=8!8",
            "Bad unhealthy devices '8' in 'gpu-1:nvidia_gpu_amd64=8!8'; list ids from 0 to 7",
        ),
        ("gpu-1:nvidia_gpu_amd64=2!", "Bad unhealthy devices ''"),
        ("gpu-1:nvidia_gpu_amd64=8!1,,2", "Bad unhealthy devices '1,,2'"),
        ("gpu-1:nvidia_gpu_amd64=8!-1", "Bad unhealthy devices '-1'"),
        ("gpu-1:nvidia_gpu_amd64=8!x", "Bad unhealthy devices 'x'"),
        ("gpu-1:nvidia_gpu_amd64=8!1!2", "Bad unhealthy devices '1!2'"),
        (
            "n:nvidia_gpu_amd64=8;n:huawei_npu_arm64=8",
            "Node 'n' appears more than once in the simulated devices",
        ),
    ],
)
def test_bad_simulated_spec_names_the_bad_piece(spec, expected):
    with pytest.raises(InventoryError) as info:
        parse_simulated(spec)
    assert expected in str(info.value)
    assert isinstance(info.value, ValueError)


def test_inventory_error_carries_message_id_and_params_for_translation():
    with pytest.raises(InventoryError) as info:
        parse_simulated("gpu-1:nvidia_gpu_amd64=9")
    error = info.value
    assert error.message == "A GPU node has 1 to 8 GPUs; got {count} in '{piece}'"
    assert error.params == {"count": 9, "piece": "gpu-1:nvidia_gpu_amd64=9"}
    assert translator("en")(error.message, **error.params) == str(error)


# --- nvidia-smi / npu-smi --------------------------------------------------------------------------


def test_nvidia_smi_output_becomes_one_node_named_after_the_host():
    tools = FakeTools({"nvidia-smi": NVIDIA_SMI_8_H100})
    assert detect_nvidia(tools, host="box", machine="x86_64") == [
        Node("box", NVIDIA_GPU, EIGHT, arch="amd64")
    ]
    assert tools.calls == [NVIDIA_SMI]


def test_nvidia_smi_on_arm_keeps_the_real_architecture():
    tools = FakeTools({"nvidia-smi": "0, NVIDIA GH200 480GB, 97871\n"})
    assert detect_nvidia(tools, host="gh", machine="aarch64")[0].arch == "arm64"


def test_nvidia_smi_odd_lines_are_skipped(caplog):
    output = "\n0, NVIDIA A100, 40960\nWARNING: infoROM is corrupted at gpu 0000:41:00.0\n2, NVIDIA A100, [N/A]\n"
    with caplog.at_level(logging.WARNING):
        nodes = detect_nvidia(FakeTools({"nvidia-smi": output}), host="h", machine="x86_64")
    assert nodes[0].devices == (0, 2)
    assert "infoROM" in caplog.text


@pytest.mark.parametrize("output", ["", "\n", "No devices were found\n"])
def test_nvidia_smi_without_gpus_is_no_node(output):
    assert detect_nvidia(FakeTools({"nvidia-smi": output}), host="h") == []


def test_missing_tools_mean_no_devices(caplog):
    with caplog.at_level(logging.WARNING):
        assert detect_nvidia(FakeTools(), host="h") == []
        assert detect_ascend(FakeTools(), host="h") == []
    assert not caplog.records  # a CPU machine is normal, not a warning


@pytest.mark.parametrize(
    "detect, tool", [(detect_nvidia, "nvidia-smi"), (detect_ascend, "npu-smi")]
)
def test_failing_tool_means_no_devices_with_a_warning(detect, tool, caplog):
    failure = (9, "", "NVIDIA-SMI has failed because it couldn't communicate with the driver\n")
    with caplog.at_level(logging.WARNING):
        assert detect(FakeTools({tool: failure}), host="h") == []
    assert f"{tool} exited with status 9" in caplog.text
    assert "couldn't communicate" in caplog.text


@pytest.mark.parametrize(
    "error", [subprocess.TimeoutExpired(["x"], 20), PermissionError(13, "Permission denied")]
)
def test_hanging_or_forbidden_tool_means_no_devices(error, caplog):
    with caplog.at_level(logging.WARNING):
        assert detect_nvidia(FakeTools({"nvidia-smi": error}), host="h") == []
    assert "could not run" in caplog.text


def test_npu_smi_output_becomes_one_npu_node():
    tools = FakeTools({"npu-smi": NPU_SMI_8_ASCEND})
    assert detect_ascend(tools, host="atlas", machine="aarch64") == [
        Node("atlas", HUAWEI_NPU, EIGHT, arch="arm64")
    ]
    assert tools.calls == [NPU_SMI]


def test_npu_smi_partial_node_keeps_its_ids():
    output = "Total Count : 2\n\nNPU ID : 4\nChip Count : 1\n\nNPU ID : 6\nChip Count : 1\n"
    assert detect_ascend(FakeTools({"npu-smi": output}), host="h")[0].devices == (4, 6)


def test_npu_smi_total_count_alone_gives_the_ids():
    node = detect_ascend(FakeTools({"npu-smi": "        Total Count : 8\n"}), host="h")[0]
    assert node.devices == EIGHT


def test_npu_smi_ids_beyond_seven_are_renumbered(caplog):
    output = "".join(f"NPU ID : {i}\n" for i in (8, 9, 10, 11))
    with caplog.at_level(logging.WARNING):
        node = detect_ascend(FakeTools({"npu-smi": output}), host="h")[0]
    assert node.devices == (0, 1, 2, 3)
    assert "outside 0-7" in caplog.text


@pytest.mark.parametrize("output", ["", "Total Count : 0\n", "something unexpected\n"])
def test_npu_smi_without_npus_is_no_node(output):
    assert detect_ascend(FakeTools({"npu-smi": output}), host="h") == []


@pytest.mark.parametrize(
    "machine, arch",
    [
        ("x86_64", "amd64"),
        ("AMD64", "amd64"),
        ("aarch64", "arm64"),
        ("arm64", "arm64"),
        ("ppc64le", "ppc64le"),
    ],
)
def test_machine_arch(machine, arch):
    assert machine_arch(machine) == arch


# --- LocalInventory --------------------------------------------------------------------------------


async def test_simulated_inventory_wins_and_never_detects(monkeypatch):
    monkeypatch.setenv("YTUNG_SIMULATED_DEVICES", "g:nvidia_gpu_amd64=2")
    tools = FakeTools({"nvidia-smi": NVIDIA_SMI_8_H100})
    inventory = LocalInventory(run=tools)
    assert await inventory.nodes() == [Node("g", NVIDIA_GPU, (0, 1))]
    assert tools.calls == []
    explicit = LocalInventory("n:huawei_npu_arm64=8", run=tools)
    assert [n.name for n in await explicit.nodes()] == ["n"]
    assert await LocalInventory("", run=tools).nodes() == []  # explicitly no devices
    assert tools.calls == []


def test_bad_simulated_env_fails_at_construction(monkeypatch):
    monkeypatch.setenv("YTUNG_SIMULATED_DEVICES", "gpu:nvidia_gpu_amd64=99")
    with pytest.raises(InventoryError, match="got 99"):
        LocalInventory()


@pytest.mark.parametrize("env", [None, "", "  "])
async def test_unset_or_blank_env_detects(monkeypatch, env):
    if env is None:
        monkeypatch.delenv("YTUNG_SIMULATED_DEVICES", raising=False)
    else:
        monkeypatch.setenv("YTUNG_SIMULATED_DEVICES", env)
    tools = FakeTools({"nvidia-smi": NVIDIA_SMI_8_H100})
    nodes = await LocalInventory(run=tools, host="box").nodes()
    assert [(n.name, n.device_type, len(n.devices)) for n in nodes] == [("box", NVIDIA_GPU, 8)]


async def test_gpus_and_npus_on_one_host_become_two_nodes(monkeypatch):
    monkeypatch.delenv("YTUNG_SIMULATED_DEVICES", raising=False)
    tools = FakeTools({"nvidia-smi": NVIDIA_SMI_8_H100, "npu-smi": NPU_SMI_8_ASCEND})
    nodes = await LocalInventory(run=tools, host="box").nodes()
    assert [(n.name, n.device_type) for n in nodes] == [
        ("box", NVIDIA_GPU),
        ("box-npu", HUAWEI_NPU),
    ]


async def test_npu_only_host_keeps_the_host_name(monkeypatch):
    monkeypatch.delenv("YTUNG_SIMULATED_DEVICES", raising=False)
    nodes = await LocalInventory(run=FakeTools({"npu-smi": NPU_SMI_8_ASCEND}), host="box").nodes()
    assert [(n.name, n.device_type) for n in nodes] == [("box", HUAWEI_NPU)]


async def test_cpu_only_host_has_no_nodes(monkeypatch):
    monkeypatch.delenv("YTUNG_SIMULATED_DEVICES", raising=False)
    assert await LocalInventory(run=FakeTools(), host="box").nodes() == []


async def test_detection_is_cached_for_the_refresh_interval(monkeypatch):
    monkeypatch.delenv("YTUNG_SIMULATED_DEVICES", raising=False)
    clock = FakeClock()
    tools = FakeTools({"nvidia-smi": NVIDIA_SMI_8_H100})
    inventory = LocalInventory(run=tools, clock=clock, refresh_interval=60, host="box")
    assert len((await inventory.nodes())[0].devices) == 8
    assert len(tools.calls) == 2  # nvidia-smi and npu-smi, once each

    tools.outputs["nvidia-smi"] = "0, NVIDIA H100 80GB HBM3, 81559\n"
    clock.now += 59.9
    assert len((await inventory.nodes())[0].devices) == 8  # cached
    assert inventory.nodes_now()[0].devices == EIGHT
    assert len(tools.calls) == 2

    clock.now += 0.1
    assert (await inventory.nodes())[0].devices == (0,)  # detected again
    assert len(tools.calls) == 4


async def test_cached_result_is_a_copy(monkeypatch):
    monkeypatch.delenv("YTUNG_SIMULATED_DEVICES", raising=False)
    inventory = LocalInventory(run=FakeTools({"nvidia-smi": NVIDIA_SMI_8_H100}), clock=FakeClock())
    (await inventory.nodes()).clear()
    assert len(await inventory.nodes()) == 1


def test_make_inventory_local_passes_keywords():
    inventory = make_inventory("local", simulated="g:nvidia_gpu_amd64=1")
    assert isinstance(inventory, LocalInventory)
    assert inventory.nodes_now() == [Node("g", NVIDIA_GPU, (0,))]
    assert repr(inventory) == "<LocalInventory simulated>"
