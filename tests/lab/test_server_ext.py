"""The server extension's ``/ytung/api/me`` against a real Jupyter server and a FakeService."""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import HTTPClientError

import ytung_server_ext

from .conftest import ALICE_TOKEN


async def fetch_error(jp_fetch, *parts) -> tuple[int, dict]:
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch(*parts)
    return e.value.code, json.loads(e.value.response.body)


def test_extension_points():
    assert ytung_server_ext._jupyter_server_extension_points() == [{"module": "ytung_server_ext"}]
    assert ytung_server_ext._jupyter_labextension_paths() == [
        {"src": "labextension", "dest": "ytung"}
    ]


async def test_me_round_trip_forwards_the_server_token(jp_fetch, fake_service):
    resp = await jp_fetch("ytung", "api", "me")
    assert resp.code == 200
    assert json.loads(resp.body) == fake_service.users[ALICE_TOKEN]
    assert fake_service.requests == [("GET", "/services/ytung/api/v1/me", f"token {ALICE_TOKEN}")]


async def test_me_needs_login(jp_fetch, fake_service):
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("ytung", "api", "me", headers={"Authorization": ""})
    assert e.value.code == 403
    assert fake_service.requests == []


async def test_me_service_down_is_503(jp_fetch, fake_service):
    fake_service.stop()
    status, body = await fetch_error(jp_fetch, "ytung", "api", "me")
    assert status == 503
    assert body["status"] == 503
    assert "unreachable" in body["message"]


async def test_me_without_service_url_is_503(jp_fetch, monkeypatch):
    monkeypatch.delenv("YTUNG_SERVICE_URL", raising=False)
    status, body = await fetch_error(jp_fetch, "ytung", "api", "me")
    assert (status, body["status"]) == (503, 503)
    assert "YTUNG_SERVICE_URL" in body["message"]


@pytest.mark.parametrize(
    "status, message", [(401, "Token expired"), (403, "Not allowed"), (500, "Database is locked")]
)
async def test_me_service_errors_keep_status_and_message(jp_fetch, fake_service, status, message):
    fake_service.fail_with = (status, message)
    assert await fetch_error(jp_fetch, "ytung", "api", "me") == (
        status,
        {"status": status, "message": message},
    )


async def test_me_unknown_token_is_the_service_403(jp_fetch, fake_service, monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "somebody-else")
    status, body = await fetch_error(jp_fetch, "ytung", "api", "me")
    assert status == 403
    assert body["message"] == "Invalid or missing token"
