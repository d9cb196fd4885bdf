"""Regenerate ``helm/ytung/values.schema.json`` (what Helm reads) from ``values.schema.yaml``
(the source of truth): ``python -m tests.helm.schema``."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

CHART = Path(__file__).resolve().parents[2] / "helm" / "ytung"


def schema_json() -> str:
    schema = yaml.safe_load((CHART / "values.schema.yaml").read_text())
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    (CHART / "values.schema.json").write_text(schema_json())
