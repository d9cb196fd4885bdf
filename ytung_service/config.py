"""Environment defaults shared by the hub config, the service and the CLI.

Every knob here has an environment variable so that ``make run`` needs no configuration:

- ``YTUNG_DATA_DIR`` (default ``./.ytung``): the data root (database, homes, datasets, jobs)
- ``YTUNG_DB_URL`` (default ``sqlite:///<data dir>/ytung.sqlite``): the platform database
- ``YTUNG_PORT`` (default 8000): the public port of the proxy
- ``YTUNG_ADMIN_PASSWORD``: the initial password of ``admin`` (generated and printed once if unset)
- ``YTUNG_RUNTIME`` (default ``local``): ``local`` or ``kubernetes``
- ``YTUNG_SIMULATED_DEVICES``: a simulated device inventory for the local runtime, e.g.
  ``gpu-node-1:nvidia_gpu_amd64=8;npu-node-1:huawei_npu_arm64=8`` (used by the scheduler)
"""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    return Path(os.environ.get("YTUNG_DATA_DIR") or ".ytung").absolute()


def default_db_url() -> str:
    return os.environ.get("YTUNG_DB_URL") or f"sqlite:///{data_dir() / 'ytung.sqlite'}"
