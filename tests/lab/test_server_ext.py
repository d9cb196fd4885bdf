"""The server extension's ``/ytung/api/*`` against a real Jupyter server and a FakeService.

``/me``, ``/vcs`` and ``/settings``, and the ``lang`` parameter every call may carry.
"""

from __future__ import annotations

import json

import pytest
from tornado.httpclient import HTTPClientError

import ytung_server_ext

from .conftest import ALICE_TOKEN
from .fake_service import QUEUE_REASON, Received, vcs_document


async def fetch_error(jp_fetch, *parts, **kwargs) -> tuple[int, dict]:
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch(*parts, **kwargs)
    return e.value.code, json.loads(e.value.response.body)


def put_settings(jp_fetch, body, **params):
    return jp_fetch("ytung", "api", "settings", method="PUT", body=json.dumps(body), params=params)


def test_extension_points():
    assert ytung_server_ext._jupyter_server_extension_points() == [{"module": "ytung_server_ext"}]
    assert ytung_server_ext._jupyter_labextension_paths() == [
        {"src": "labextension", "dest": "ytung"}
    ]


async def test_me_round_trip_forwards_the_server_token(jp_fetch, fake_service):
    resp = await jp_fetch("ytung", "api", "me")
    assert resp.code == 200
    assert json.loads(resp.body) == fake_service.users[ALICE_TOKEN]
    assert fake_service.requests == [
        Received("GET", "/services/ytung/api/v1/me", f"token {ALICE_TOKEN}")
    ]


async def test_me_forwards_the_lab_language(jp_fetch, fake_service):
    await jp_fetch("ytung", "api", "me", params={"lang": "zh_CN"})
    assert fake_service.requests[-1].accept_language == "zh-CN"


async def test_a_malformed_lang_is_400(jp_fetch, fake_service):
    status, body = await fetch_error(
        jp_fetch, "ytung", "api", "me", params={"lang": "zh\r\nX-Evil: 1"}
    )
    assert (status, body["status"]) == (400, 400)
    assert "lang" in body["message"]
    assert fake_service.requests == []


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


# -- /ytung/api/vcs (SPEC V3, V5, X1) -------------------------------------------------------


async def test_vcs_round_trip(jp_fetch, fake_service):
    resp = await jp_fetch("ytung", "api", "vcs")
    assert json.loads(resp.body) == vcs_document()
    assert fake_service.requests == [
        Received("GET", "/services/ytung/api/v1/me/vcs", f"token {ALICE_TOKEN}")
    ]


@pytest.mark.parametrize(
    "lang, accept_language, reason",
    [("zh_CN", "zh-CN", QUEUE_REASON["zh"]), ("en", "en", QUEUE_REASON["en"])],
    ids=["zh_CN", "en"],
)
async def test_vcs_queue_reason_in_the_lab_language(
    jp_fetch, fake_service, lang, accept_language, reason
):
    resp = await jp_fetch("ytung", "api", "vcs", params={"lang": lang})
    assert json.loads(resp.body)["queued"][0]["reason"] == reason
    assert fake_service.requests[-1].accept_language == accept_language


async def test_vcs_needs_login(jp_fetch, fake_service):
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch("ytung", "api", "vcs", headers={"Authorization": ""})
    assert e.value.code == 403
    assert fake_service.requests == []


@pytest.mark.parametrize("status, message", [(403, "Not allowed"), (500, "Database is locked")])
async def test_vcs_service_errors_keep_status_and_message(jp_fetch, fake_service, status, message):
    fake_service.fail_with = (status, message)
    assert await fetch_error(jp_fetch, "ytung", "api", "vcs") == (
        status,
        {"status": status, "message": message},
    )


async def test_vcs_service_down_is_503(jp_fetch, fake_service):
    fake_service.stop()
    status, body = await fetch_error(jp_fetch, "ytung", "api", "vcs")
    assert (status, body["status"]) == (503, 503)


# -- /ytung/api/settings (SPEC V5, U1) --------------------------------------------------------


async def test_settings_switches_the_current_vc(jp_fetch, fake_service):
    resp = await put_settings(jp_fetch, {"current_vc": "speech"}, lang="zh_CN")
    assert json.loads(resp.body) == {"current_vc": "speech"}
    assert fake_service.requests == [
        Received(
            "PUT",
            "/services/ytung/api/v1/me/settings",
            f"token {ALICE_TOKEN}",
            "zh-CN",
            {"current_vc": "speech"},
        )
    ]
    resp = await jp_fetch("ytung", "api", "vcs")
    assert json.loads(resp.body)["current_vc"] == "speech"


@pytest.mark.parametrize(
    "body, needle",
    [
        ("not json", "Invalid JSON"),
        ("", "Expected a JSON object"),
        ('["speech"]', "Expected a JSON object"),
        ("{}", "current_vc"),
        ('{"current_vc": 3}', "current_vc"),
        ('{"current_vc": "  "}', "current_vc"),
        ('{"current_vc": "speech", "theme": "dark"}', "Unknown setting: theme"),
    ],
)
async def test_settings_bad_bodies_are_400(jp_fetch, fake_service, body, needle):
    status, answer = await fetch_error(
        jp_fetch,
        "ytung",
        "api",
        "settings",
        method="PUT",
        body=body,
        allow_nonstandard_methods=True,
    )
    assert (status, answer["status"]) == (400, 400)
    assert needle in answer["message"]
    assert fake_service.requests == []


async def test_settings_unknown_vc_is_the_service_404(jp_fetch, fake_service):
    status, body = await fetch_error(
        jp_fetch, "ytung", "api", "settings", method="PUT", body='{"current_vc": "nope"}'
    )
    assert (status, body) == (404, {"status": 404, "message": "No such virtual cluster: nope"})


async def test_settings_not_a_member_is_the_service_400(jp_fetch, fake_service):
    fake_service.fail_with = (400, "You are not a member of VC 'audio'")
    status, body = await fetch_error(
        jp_fetch, "ytung", "api", "settings", method="PUT", body='{"current_vc": "audio"}'
    )
    assert (status, body["message"]) == (400, "You are not a member of VC 'audio'")


async def test_settings_needs_login(jp_fetch, fake_service):
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch(
            "ytung",
            "api",
            "settings",
            method="PUT",
            body='{"current_vc": "speech"}',
            headers={"Authorization": ""},
        )
    assert e.value.code == 403
    assert fake_service.requests == []


async def test_own_errors_come_in_the_lab_language(jp_fetch, fake_service):
    body = '{"current_vc": "speech", "theme": "dark"}'
    status, zh = await fetch_error(
        jp_fetch, "ytung", "api", "settings", method="PUT", body=body, params={"lang": "zh_CN"}
    )
    assert (status, zh["message"]) == (400, "未知设置：theme（可设置：current_vc）")
    status, en = await fetch_error(
        jp_fetch, "ytung", "api", "settings", method="PUT", body=body, params={"lang": "en"}
    )
    assert en["message"] == "Unknown setting: theme (settable: current_vc)"
    # no lang: the browser's language
    status, browser = await fetch_error(
        jp_fetch,
        "ytung",
        "api",
        "settings",
        method="PUT",
        body=body,
        headers={"Accept-Language": "zh-CN,zh;q=0.9"},
    )
    assert browser["message"] == zh["message"]
