"""Fixtures of the lab-side tests (server extension, widgets, lab extension files).

- ``fake_service``: a started :class:`FakeService` (fake_service.py) knowing one user,
  ``alice`` with token ``alice-token``; ``YTUNG_SERVICE_URL`` and ``JUPYTERHUB_API_TOKEN``
  point at it (as the spawner sets them in a workload)
- ``jp_server_config``: a Jupyter server with ``ytung_server_ext`` enabled
- the ``jp_*`` fixtures of ``pytest_jupyter.jupyter_server`` (``jp_fetch`` …), with
  ``jp_asyncio_loop`` being pytest-asyncio's loop of the test
"""

from __future__ import annotations

import asyncio

import pytest
from pytest_jupyter.jupyter_server import *  # noqa: F403 (the jp_* fixtures, scoped to tests/lab)

from .fake_service import FakeService, me_document

ALICE_TOKEN = "alice-token"


@pytest.fixture
async def _pytest_asyncio_loop():
    return asyncio.get_running_loop()


@pytest.fixture
def jp_asyncio_loop(_pytest_asyncio_loop):
    """pytest_jupyter's server on the loop pytest-asyncio runs the test in (one loop, not two)."""
    return _pytest_asyncio_loop


@pytest.fixture
def jp_server_config():
    return {"ServerApp": {"jpserver_extensions": {"ytung_server_ext": True}}}


@pytest.fixture
def fake_service(monkeypatch):
    service = FakeService().start()
    service.users[ALICE_TOKEN] = me_document()
    monkeypatch.setenv("YTUNG_SERVICE_URL", service.url)
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", ALICE_TOKEN)
    yield service
    service.stop()
