"""V6 limits table: parsing, validation, lookup."""

import pytest

from ytung_spawner import resources


def test_defaults_are_the_specs():
    lim = resources.limits_for(resources.DEFAULT_LIMITS, "nvidia_gpu_amd64")
    assert lim == resources.Limits("2", "400Mi", "22", "80Gi")
    assert lim.mem_limit_bytes == 80 * 1024**3
    assert lim.mem_guarantee_bytes == 400 * 1024**2
    assert lim.cpu_limit_cores == 22


def test_per_type_override_and_fallback():
    table = resources.validate_table(
        {"default": {}, "huawei_npu_arm64": {"mem_limit": "256Gi", "cpu_limit": "4000m"}}
    )
    npu = resources.limits_for(table, "huawei_npu_arm64")
    assert npu.mem_limit == "256Gi" and npu.cpu_limit_cores == 4.0 and npu.cpu_guarantee == "2"
    assert resources.limits_for(table, None) == resources.limits_for(resources.DEFAULT_LIMITS, None)


@pytest.mark.parametrize(
    "table",
    [
        {"x": {"mem_limit": "lots"}},
        {"x": {"cpu_limit": "1", "cpu_guarantee": "2"}},
        {"x": {"mem_guarantee": "2Gi", "mem_limit": "1Gi"}},
        {"x": {"gpu": "1"}},
        [],
    ],
)
def test_bad_tables_refused(table):
    with pytest.raises(ValueError):
        resources.validate_table(table)


def test_quantities():
    assert resources.parse_memory("1.5Gi") == int(1.5 * 1024**3)
    assert resources.parse_memory("100M") == 100_000_000
    assert resources.parse_cpu("250m") == 0.25
    with pytest.raises(ValueError):
        resources.parse_cpu("2Gi")
