"""The runtimes package: :func:`make_inventory` and the shared :class:`Inventory` interface."""

from __future__ import annotations

import pytest

from ytung_service.runtimes import (
    Inventory,
    InventoryError,
    KubernetesInventory,
    LocalInventory,
    make_inventory,
)


@pytest.mark.parametrize(
    "runtime, cls", [("local", LocalInventory), ("kubernetes", KubernetesInventory)]
)
def test_make_inventory_gives_the_runtime_inventory(runtime, cls):
    kw = {"simulated": ""} if runtime == "local" else {}
    inventory = make_inventory(runtime, **kw)
    assert isinstance(inventory, cls)
    assert isinstance(inventory, Inventory)


def test_unknown_runtime_is_an_inventory_error():
    with pytest.raises(InventoryError) as info:
        make_inventory("docker")
    assert str(info.value) == "Unknown runtime 'docker'; use one of local, kubernetes"
    assert info.value.message == "Unknown runtime '{runtime}'; use one of {allowed}"
