"""FreeIndex: GPU bin-packing, NPU ring best fit, gangs on distinct nodes, reservations."""

from __future__ import annotations

from sched_factories import GPU, NPU, gpu_nodes, npu_nodes

from ytung_service.scheduling import FreeIndex, Node


def test_gpu_prefers_the_fullest_node_that_fits() -> None:
    index = FreeIndex(GPU, gpu_nodes(3), {"g1": set(range(6)), "g2": set(range(3))})
    assert index.find(1, 2) == {"g1": (6, 7)}  # g1 has 2 free: exact fit
    assert index.find(1, 3) == {"g2": (3, 4, 5)}  # g2 has 5 free, g3 stays whole
    assert index.find(1, 8) == {"g3": tuple(range(8))}
    assert index.find(2, 8) is None
    assert index.count_fitting(3) == 2


def test_take_and_give_keep_buckets_in_step() -> None:
    index = FreeIndex(GPU, gpu_nodes(1), {})
    index.take("g1", (0, 1, 2))
    assert index.total_free == 5 and index.find(1, 6) is None
    index.give("g1", (0, 1, 2))
    assert index.find(1, 8) == {"g1": tuple(range(8))}


def test_unhealthy_devices_are_never_free() -> None:
    node = Node("g1", GPU, tuple(range(8)), unhealthy=frozenset({0, 5}))
    index = FreeIndex(GPU, [node], {})
    assert index.free["g1"] == {1, 2, 3, 4, 6, 7}
    assert index.find(1, 7) is None


def test_npu_keeps_whole_nodes_for_eights() -> None:
    # n1 has ring 1 busy; n2 is whole: a 4 goes to n1's ring 0, keeping n2 for an 8
    index = FreeIndex(NPU, npu_nodes(2), {"n1": {4, 5, 6, 7}})
    assert index.find(1, 4) == {"n1": (0, 1, 2, 3)}
    assert index.find(1, 8) == {"n2": tuple(range(8))}


def test_npu_never_straddles_rings() -> None:
    index = FreeIndex(NPU, npu_nodes(1), {"n1": {0, 1, 6, 7}})  # free: 2, 3 | 4, 5
    assert index.find(1, 4) is None
    assert index.find(1, 2) == {"n1": (2, 3)}
    assert index.count_fitting(4) == 0


def test_npu_small_nodes_offer_only_their_rings() -> None:
    index = FreeIndex(NPU, [Node("n6", NPU, tuple(range(6)))], {})  # rings 0-3 and 4-5
    assert index.find(1, 8) is None
    assert index.find(1, 4) == {"n6": (0, 1, 2, 3)}
    assert index.find(1, 2) == {"n6": (4, 5)}


def test_gang_on_distinct_nodes_or_nothing() -> None:
    index = FreeIndex(NPU, npu_nodes(3), {"n3": {0}})
    placement = index.find(2, 8)
    assert placement is not None and sorted(placement) == ["n1", "n2"]
    assert index.find(3, 8) is None


def test_reservation_takes_the_nodes_closest_to_fitting() -> None:
    index = FreeIndex(
        GPU, gpu_nodes(3), {"g1": set(range(8)), "g2": set(range(5)), "g3": {0, 1, 2, 3}}
    )
    assert index.reservation(1, 8) == {"g3": (4, 5, 6, 7)}
    assert index.reservation(2, 8) == {"g3": (4, 5, 6, 7), "g2": (5, 6, 7)}
    assert index.reservation(1, 8, exclude={"g3"}) == {"g2": (5, 6, 7)}


def test_npu_reservation_holds_one_ring() -> None:
    index = FreeIndex(NPU, npu_nodes(1), {"n1": {0, 1, 2, 4}})  # free: 3 | 5, 6, 7
    assert index.reservation(1, 4) == {"n1": (5, 6, 7)}
