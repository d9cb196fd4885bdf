"""The hub's access log: the platform service's successful GETs are DEBUG, the rest as JupyterHub
logs them."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from jupyterhub import orm
from tornado.httputil import HTTPHeaders

from ytung_spawner.hublog import log_request


class FakeHandler:
    def __init__(self, user, method="GET", status=200, path="/hub/api/users"):
        self.current_user = user
        self._status = status
        self._headers = {}
        self.request = SimpleNamespace(
            method=method,
            path=path,
            uri=path + "?state=active",
            remote_ip="127.0.0.1",
            headers=HTTPHeaders({"User-Agent": "test"}),
            request_time=lambda: 0.004,
        )

    def get_status(self):
        return self._status


SERVICE = orm.Service(name="ytung")
OTHER_SERVICE = orm.Service(name="culler")
ADMIN = orm.User(name="admin")


@pytest.mark.parametrize(
    "user, method, status, level",
    [
        (SERVICE, "GET", 200, logging.DEBUG),  # the reconciler's polling
        (SERVICE, "POST", 201, logging.INFO),  # starting a server is news
        (SERVICE, "GET", 404, logging.WARNING),
        (OTHER_SERVICE, "GET", 200, logging.INFO),
        (ADMIN, "GET", 200, logging.INFO),
        (None, "GET", 200, logging.INFO),
    ],
)
def test_levels(user, method, status, level):
    # a handler on the access logger itself: JupyterHub apps started by other tests in this
    # process turn its propagation off, so pytest's caplog (on the root logger) sees nothing
    from jupyterhub.log import access_log

    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append
    old_level, old_disabled = access_log.level, access_log.disabled
    access_log.addHandler(handler)
    access_log.setLevel(logging.DEBUG)
    access_log.disabled = False
    try:
        log_request(FakeHandler(user, method, status))
    finally:
        access_log.removeHandler(handler)
        access_log.setLevel(old_level)
        access_log.disabled = old_disabled
    assert records and records[-1].levelno == level
    assert "/hub/api/users" in records[-1].getMessage()
