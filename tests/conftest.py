"""Fixtures for the whole suite.

- ``db_url``: a fresh SQLite database migrated to head with the first-start state
  (preset roles, ``admin``, the ``default`` VC)
- ``db``: a SQLAlchemy session on ``db_url``
- ``platform``: the real platform (hub, proxy, service) running for the whole session,
  see :class:`tests.harness.RunningPlatform`
- ``admin_token``: a hub token of ``admin`` on ``platform``
"""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from tests.harness import ADMIN_PASSWORD, RunningPlatform
from ytung_service.bootstrap import prepare_database
from ytung_service.db import make_engine


@pytest.fixture
def db_url(tmp_path):
    url = f"sqlite:///{tmp_path / 'ytung.sqlite'}"
    prepare_database(url, admin_password=ADMIN_PASSWORD)
    return url


@pytest.fixture
def db(db_url):
    engine = make_engine(db_url)
    with Session(engine) as session:
        yield session
    engine.dispose()


@pytest.fixture(scope="session")
def platform(tmp_path_factory):
    with RunningPlatform.running(tmp_path_factory.mktemp("platform")) as p:
        yield p


@pytest.fixture(scope="session")
def admin_token(platform):
    return platform.token("admin", ADMIN_PASSWORD)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """On failure, attach the tail of the running platform's log to the report."""
    report = yield
    if report.failed:
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, RunningPlatform):
                report.sections.append(("platform log (tail)", value.log_tail(60)))
    return report
