"""The server extension's ``/ytung/api/datasets*`` against the REAL platform service.

A Jupyter server with ``ytung_server_ext`` (pytest_jupyter's ``jp_fetch``) forwards to the
session ``platform`` (hub + proxy + service) with a signed-up user's token, as a workload's
server does: upload in chunks streamed through, list, search, detail, download streamed back,
edit, delete, and the service's refusals passed on with status and (translated) message.
"""

from __future__ import annotations

import io
import json
import os
import zipfile

import pytest
from tornado.httpclient import HTTPClientError

pytestmark = pytest.mark.slow

PASSWORD = "Secret-pass-42"


@pytest.fixture(scope="module")
def lab_user_token(platform):
    platform.signup("labds", "Lab DS", PASSWORD)
    return platform.token("labds", PASSWORD)


@pytest.fixture
def service_env(platform, lab_user_token, monkeypatch):
    monkeypatch.setenv("YTUNG_SERVICE_URL", f"{platform.url}/services/ytung/")
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", lab_user_token)
    return platform


def api(jp_fetch, *parts, **kwargs):
    return jp_fetch("ytung", "api", "datasets", *parts, **kwargs)


async def error_of(call) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as e:
        await call
    return e.value.code, json.loads(e.value.response.body)["message"]


def make_zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


async def test_upload_list_detail_download_edit_delete(jp_fetch, service_env):
    files = {"images/a.png": os.urandom(300_000), "labels.json": b'{"a": 1}'}
    archive = make_zip(files)
    r = await api(
        jp_fetch,
        "uploads",
        method="POST",
        body=json.dumps(
            {"filename": "lab.zip", "size": len(archive), "name": "lab-set", "labeled": True}
        ),
    )
    assert r.code == 201
    uid = json.loads(r.body)["id"]
    half = len(archive) // 2
    for start, end in ((0, half), (half, len(archive))):
        r = await api(
            jp_fetch,
            "uploads",
            uid,
            method="PUT",
            body=archive[start:end],
            headers={"Content-Range": f"bytes {start}-{end - 1}/{len(archive)}"},
        )
        assert json.loads(r.body)["offset"] == end
    assert json.loads((await api(jp_fetch, "uploads", uid)).body)["offset"] == len(archive)
    r = await api(jp_fetch, "uploads", uid, "complete", method="POST", body=b"")
    assert r.code == 201
    ds = json.loads(r.body)
    assert (ds["name"], ds["version"], ds["creator"]) == ("lab-set", 1, "labds")

    listed = json.loads((await api(jp_fetch, params={"q": "lab set"})).body)
    assert [d["id"] for d in listed][:1] == [ds["id"]]
    detail = json.loads((await api(jp_fetch, str(ds["id"]))).body)
    assert detail["versions"][0]["file_count"] == 2

    r = await api(jp_fetch, str(ds["id"]), "download")
    assert r.headers["Content-Type"] == "application/zip"
    assert "lab-set-v1.zip" in r.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(r.body)) as zf:
        assert {n: zf.read(n) for n in zf.namelist()} == files

    r = await api(
        jp_fetch, str(ds["id"]), method="PATCH", body=json.dumps({"description": "edited"})
    )
    assert json.loads(r.body)["description"] == "edited"
    r = await api(jp_fetch, str(ds["id"]), method="DELETE")
    assert r.code == 204
    code, message = await error_of(api(jp_fetch, str(ds["id"])))
    assert code == 404 and "No such dataset" in message


async def test_refusals_keep_status_and_message(jp_fetch, service_env):
    code, message = await error_of(
        api(
            jp_fetch,
            "uploads",
            method="POST",
            body=json.dumps({"filename": "a.rar", "size": 10, "name": "x"}),
        )
    )
    assert code == 400 and ".zip, .tar or .tar.gz" in message
    code, message = await error_of(
        api(
            jp_fetch,
            "uploads",
            method="POST",
            body=json.dumps({"filename": "a.rar", "size": 10, "name": "x"}),
            params={"lang": "zh_CN"},
        )
    )
    assert code == 400 and "不支持的文件类型" in message
    code, message = await error_of(api(jp_fetch, "999999", "download"))
    assert code == 404 and "No such dataset" in message
    code, message = await error_of(
        api(jp_fetch, method="POST", body=json.dumps({"name": "p", "path": "/srv"}))
    )
    assert code == 400 and "dataset_path_roots" in message


@pytest.mark.parametrize(
    "method, parts, body",
    [
        ("POST", (), {"name": "p", "path": "/srv", "self": 1}),
        ("PATCH", ("1",), {"dataset_id": 2, "name": "x"}),
        ("POST", ("uploads",), {"filename": "a.zip", "size": 10, "name": "x", "self": 1}),
    ],
    ids=["register-self", "patch-dataset-id", "upload-self"],
)
async def test_fields_that_collide_with_the_client_are_a_400_not_a_500(
    jp_fetch, service_env, method, parts, body
):
    code, message = await error_of(api(jp_fetch, *parts, method=method, body=json.dumps(body)))
    assert code == 400 and message.startswith("Unknown field:"), (code, message)


async def test_a_corrupt_archive_is_refused_through_the_lab(jp_fetch, service_env):
    data = b"not a zip at all" * 100
    r = await api(
        jp_fetch,
        "uploads",
        method="POST",
        body=json.dumps({"filename": "bad.zip", "size": len(data), "name": "bad-lab"}),
    )
    uid = json.loads(r.body)["id"]
    await api(
        jp_fetch,
        "uploads",
        uid,
        method="PUT",
        body=data,
        headers={"Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}"},
    )
    code, message = await error_of(
        api(jp_fetch, "uploads", uid, "complete", method="POST", body=b"")
    )
    assert code == 400 and "damaged" in message
    names = [d["name"] for d in json.loads((await api(jp_fetch)).body)]
    assert "bad-lab" not in names


async def test_a_chunk_at_the_wrong_offset_is_not_accepted(jp_fetch, service_env):
    r = await api(
        jp_fetch,
        "uploads",
        method="POST",
        body=json.dumps({"filename": "w.zip", "size": 100, "name": "wrong-offset"}),
    )
    uid = json.loads(r.body)["id"]
    with pytest.raises(HTTPClientError) as e:
        await api(
            jp_fetch,
            "uploads",
            uid,
            method="PUT",
            body=b"x" * 50,
            headers={"Content-Range": "bytes 50-99/100"},
        )
    assert e.value.code in (409, 503)
    assert json.loads((await api(jp_fetch, "uploads", uid)).body)["offset"] == 0
    r = await api(jp_fetch, "uploads", uid, method="DELETE")
    assert r.code == 204
