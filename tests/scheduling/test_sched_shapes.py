"""Request shapes (V7, V8, X2): legal counts, NPU groups, validation messages, per-node id choice."""

from __future__ import annotations

import pytest
from sched_factories import GPU, NPU, gpu_nodes, npu_nodes

from ytung_service.scheduling import (
    InvalidRequest,
    Node,
    legal_devices,
    legal_placement,
    pick,
    request_problem,
    validate_request,
)


@pytest.mark.parametrize("count", [0, 1, 2, 4, 8])
def test_npu_allowed_counts(count: int) -> None:
    assert request_problem(NPU, 1, count) is None


@pytest.mark.parametrize("count", [3, 5, 6, 7, 9, 16, -1])
def test_npu_other_counts_refused_with_the_allowed_list(count: int) -> None:
    why = request_problem(NPU, 1, count)
    assert why is not None and why.code == "bad_npu_count"
    assert str(why) == f"NPU count must be one of 0, 1, 2, 4, 8 per node; got {count}"


def test_npu_three_is_refused_by_validate_request() -> None:
    with pytest.raises(InvalidRequest, match=r"one of 0, 1, 2, 4, 8 per node; got 3") as info:
        validate_request(NPU, 1, 3)
    assert info.value.reason.code == "bad_npu_count"


def test_distributed_npu_uses_8_per_node() -> None:
    assert request_problem(NPU, 2, 8) is None  # 16 NPUs = 2 nodes × 8
    why = request_problem(NPU, 2, 4)
    assert why is not None and why.code == "npu_distributed_needs_8"
    assert "8 NPUs per node" in str(why)


@pytest.mark.parametrize("count", range(9))
def test_gpu_zero_to_eight(count: int) -> None:
    assert request_problem(GPU, 1, count) is None


@pytest.mark.parametrize("count", [9, 16, -1, 10**9])
def test_gpu_outside_zero_to_eight_refused(count: int) -> None:
    why = request_problem(GPU, 1, count)
    assert why is not None and why.code == "bad_gpu_count"
    assert str(why) == f"GPU count must be between 0 and 8 per node; got {count}"


@pytest.mark.parametrize(
    ("nodes", "count", "code"),
    [
        (0, 1, "bad_nodes"),
        (-3, 1, "bad_nodes"),
        (10**6, 1, "bad_nodes"),
        (1.5, 1, "not_integer"),
        (1, 2.0, "not_integer"),
        (True, 1, "not_integer"),
    ],
)
def test_absurd_numbers_refused(nodes: int, count: int, code: str) -> None:
    why = request_problem(GPU, nodes, count)
    assert why is not None and why.code == code


def test_unknown_and_missing_device_type() -> None:
    unknown = request_problem("tpu", 1, 1)
    assert unknown is not None and unknown.code == "unknown_device_type"
    assert "nvidia_gpu_amd64" in str(unknown)
    missing = request_problem(None, 1, 2)
    assert missing is not None and missing.code == "no_device_type"
    assert request_problem(None, 3, 0) is None  # CPU-only, any number of nodes
    assert request_problem("", 1, 0) is None


def test_cluster_checks() -> None:
    cluster = gpu_nodes(2) + npu_nodes(1, devices=4)
    validate_request(GPU, 2, 8, cluster)
    with pytest.raises(
        InvalidRequest, match="3 nvidia_gpu_amd64 nodes requested but the cluster has 2"
    ):
        validate_request(GPU, 3, 1, cluster)
    with pytest.raises(InvalidRequest) as info:  # a 4-NPU node can never hold 8
        validate_request(NPU, 1, 8, cluster)
    assert info.value.reason.code == "no_node_can_hold"
    validate_request(NPU, 1, 4, cluster)
    with pytest.raises(InvalidRequest, match="no huawei_npu_arm64 nodes"):
        validate_request(NPU, 1, 1, gpu_nodes(1))
    validate_request(None, 5, 0, gpu_nodes(1))  # CPU-only needs no accelerator node


def test_pick_npu_stays_in_one_ring() -> None:
    assert pick(NPU, range(8), 8) == tuple(range(8))
    assert pick(NPU, range(8), 4) == (0, 1, 2, 3)
    assert pick(NPU, {3, 4, 5, 6, 7}, 4) == (4, 5, 6, 7)
    # 3 and 4 are free next to each other but in different groups: no 2 of one ring
    assert pick(NPU, {3, 4}, 2) is None
    assert pick(NPU, {2, 3, 4}, 2) == (2, 3)
    assert pick(NPU, {0, 1, 2, 4, 5, 6, 7}, 8) is None
    assert pick(NPU, {1, 2, 3, 5, 6, 7}, 4) is None


def test_pick_npu_ring_preference_keeps_pairs_and_rings_whole() -> None:
    # one NPU: from the ring with 1 free, then 3, then 2, then 4
    assert pick(NPU, {0, 1, 2, 3, 7}, 1) == (7,)
    assert pick(NPU, {0, 1, 5, 6, 7}, 1) == (5,)
    assert pick(NPU, {0, 1, 4, 5, 6, 7}, 1) == (0,)
    # two: a ring with exactly 2 first, then a whole ring, then one of 3
    assert pick(NPU, {0, 1, 2, 3, 6, 7}, 2) == (6, 7)
    assert pick(NPU, {1, 2, 3, 4, 5, 6, 7}, 2) == (4, 5)


def test_pick_gpu_lowest_ids() -> None:
    assert pick(GPU, {7, 3, 5}, 2) == (3, 5)
    assert pick(GPU, {7, 3, 5}, 4) is None
    assert pick(GPU, set(), 0) == ()


@pytest.mark.parametrize(
    ("ids", "legal"),
    [
        ((0,), True),
        ((0, 1), True),
        ((2, 3), True),
        ((3, 4), False),
        ((0, 1, 2, 3), True),
        ((4, 5, 6, 7), True),
        ((2, 3, 4, 5), False),
        ((0, 1, 2), False),
        (tuple(range(8)), True),
        ((), False),
        ((1, 1), False),
    ],
)
def test_legal_npu_devices(ids: tuple[int, ...], legal: bool) -> None:
    assert legal_devices(NPU, ids) is legal


def test_legal_placement_is_the_whole_gang() -> None:
    assert legal_placement(NPU, 2, 8, {"n1": tuple(range(8)), "n2": tuple(range(8))})
    assert not legal_placement(NPU, 2, 8, {"n1": tuple(range(8))})
    assert not legal_placement(GPU, 1, 2, {"g1": (0, 1, 2)})
    assert legal_placement(None, 1, 0, {})


def test_nodes_refuse_impossible_inventories() -> None:
    with pytest.raises(ValueError):
        Node("n", NPU, (0, 8))
    with pytest.raises(ValueError):
        Node("n", "tpu", (0,))
    with pytest.raises(ValueError):
        Node("n", GPU, (0, 0))
    node = Node("g", GPU, (3, 1, 2), unhealthy=frozenset({2}))
    assert node.devices == (1, 2, 3) and node.healthy == (1, 3) and node.arch == "amd64"
