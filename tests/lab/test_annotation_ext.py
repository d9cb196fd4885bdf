"""The server extension's ``/ytung/api/annotations/*`` against a real Jupyter server and
``AnnotationFake``, a real tornado server that plays the service's annotation API:

- it records every request (method, path with query, token, language, JSON body);
- ``PUT .../images/5`` refuses a shape of an unknown class with the service's 400;
- ``GET .../images/5/file`` (and 7) streams ``IMAGE`` (1.5 MiB) in 64 KiB chunks,
  ``.../images/6/file`` is a 404 with a JSON message;
- everything else answers a small canned document (``DELETE`` a 204).

What is checked: the routes forward method, path, body, token and language; statuses and
messages come back unchanged; image bytes arrive whole, with the service's content type.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import threading
from pathlib import Path

import pytest
from tornado import httpserver, web
from tornado.httpclient import HTTPClientError

from ytung_service.client import PlatformClient, PlatformError
from ytung_widgets.labeling import LabelingWidget

from .conftest import ALICE_TOKEN

IMAGE = os.urandom(1536 * 1024)
PREFIX = "/services/ytung/api/v1/"


class _Handler(web.RequestHandler):
    def initialize(self, fake):
        self.fake = fake

    def record(self):
        body = json.loads(self.request.body) if self.request.body else None
        self.fake.requests.append(
            (
                self.request.method,
                self.request.uri.removeprefix(PREFIX),
                self.request.headers.get("Authorization"),
                self.request.headers.get("Accept-Language"),
                body,
            )
        )
        return body

    def answer(self, status, doc):
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(doc))

    def get(self, path):
        self.record()
        self.answer(200, {"path": path})

    def post(self, path):
        body = self.record()
        self.answer(202 if path.endswith("exports") else 201, {"path": path, "body": body})

    def patch(self, path):
        body = self.record()
        self.answer(200, {"path": path, "body": body})

    def delete(self, path):
        self.record()
        self.set_status(204)
        self.finish()

    def put(self, path):
        body = self.record()
        if any(s.get("class") == "cow" for s in body["shapes"]):
            self.answer(400, {"status": 400, "message": "Shape 1: unknown class 'cow'"})
        else:
            self.answer(200, {"image": {"id": 5, "state": "labeled"}, "next": None})


class _FileHandler(_Handler):
    async def get(self, image_id):
        self.record()
        if image_id not in ("5", "7"):
            self.answer(404, {"status": 404, "message": "No such image in annotation dataset x: 6"})
            return
        self.set_header("Content-Type", "image/png")
        self.set_header("Content-Length", str(len(IMAGE)))
        for i in range(0, len(IMAGE), 65536):
            self.write(IMAGE[i : i + 65536])
            await self.flush()
        self.finish()


class AnnotationFake:
    """The service's ``/api/v1/annotations/*`` on its own thread and loop."""

    def __init__(self):
        self.requests: list[tuple] = []
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        self._socket = sock
        self.url = f"http://127.0.0.1:{self.port}/services/ytung/"

    def start(self):
        started = threading.Event()

        def run():
            self.loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self.loop)
            app = web.Application(
                [
                    (
                        PREFIX + r"annotations/datasets/3/images/([0-9]+)/file",
                        _FileHandler,
                        {"fake": self},
                    ),
                    (PREFIX + r"(.*)", _Handler, {"fake": self}),
                ],
                log_function=lambda handler: None,
            )
            self.server = httpserver.HTTPServer(app)
            self._socket.listen(16)
            self._socket.setblocking(False)
            self.server.add_socket(self._socket)
            self.loop.call_soon(started.set)
            self.loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        started.wait(5)
        return self

    def stop(self):
        self.loop.call_soon_threadsafe(self.server.stop)
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture
def fake(monkeypatch):
    service = AnnotationFake().start()
    monkeypatch.setenv("YTUNG_SERVICE_URL", service.url)
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", ALICE_TOKEN)
    yield service
    service.stop()


def api(*parts):
    return ("ytung", "api", "annotations", *parts)


AUTH = f"token {ALICE_TOKEN}"


@pytest.mark.parametrize(
    "method, parts, body, params, forwarded",
    [
        ("GET", ["projects"], None, {}, ("GET", "annotations/projects", None)),
        (
            "POST",
            ["projects"],
            {"name": "街景", "description": "d"},
            {},
            ("POST", "annotations/projects", {"name": "街景", "description": "d"}),
        ),
        (
            "PATCH",
            ["projects", "2"],
            {"name": "x"},
            {},
            ("PATCH", "annotations/projects/2", {"name": "x"}),
        ),
        (
            "POST",
            ["projects", "2", "datasets"],
            {"name": "cats", "source": 4, "classes": ["cat"]},
            {},
            (
                "POST",
                "annotations/projects/2/datasets",
                {"name": "cats", "source": 4, "classes": ["cat"]},
            ),
        ),
        ("GET", ["sources"], None, {}, ("GET", "datasets?labeled=false", None)),
        ("GET", ["datasets", "3"], None, {}, ("GET", "annotations/datasets/3", None)),
        (
            "GET",
            ["datasets", "3", "images"],
            None,
            {"state": "unlabeled", "offset": "100", "limit": "50"},
            ("GET", "annotations/datasets/3/images?offset=100&limit=50&state=unlabeled", None),
        ),
        (
            "GET",
            ["datasets", "3", "next"],
            None,
            {"after": "7"},
            ("GET", "annotations/datasets/3/next?after=7", None),
        ),
        ("GET", ["datasets", "3", "coco"], None, {}, ("GET", "annotations/datasets/3/coco", None)),
        (
            "POST",
            ["datasets", "3", "coco"],
            {"images": [], "annotations": [], "categories": []},
            {},
            (
                "POST",
                "annotations/datasets/3/coco",
                {"images": [], "annotations": [], "categories": []},
            ),
        ),
        (
            "POST",
            ["datasets", "3", "exports"],
            {},
            {},
            ("POST", "annotations/datasets/3/exports", {}),
        ),
        (
            "GET",
            ["datasets", "3", "exports", "9"],
            None,
            {},
            ("GET", "annotations/datasets/3/exports/9", None),
        ),
    ],
)
async def test_routes_forward_to_the_service(
    jp_fetch, fake, method, parts, body, params, forwarded
):
    kwargs = {"method": method, "params": {"lang": "zh_CN", **params}}
    if body is not None:
        kwargs["body"] = json.dumps(body)
    resp = await jp_fetch(*api(*parts), **kwargs)
    assert resp.code in (200, 201, 202)
    verb, path, sent = forwarded
    assert fake.requests == [(verb, path, AUTH, "zh-CN", sent)]


async def test_delete_answers_204(jp_fetch, fake):
    resp = await jp_fetch(*api("datasets", "3"), method="DELETE")
    assert resp.code == 204 and resp.body == b""
    assert fake.requests[0][:2] == ("DELETE", "annotations/datasets/3")


async def test_submit_passes_the_services_refusal_on(jp_fetch, fake):
    ok = await jp_fetch(
        *api("datasets", "3", "images", "5"),
        method="PUT",
        body=json.dumps({"shapes": [{"type": "bbox", "class": "cat", "bbox": [0, 0, 1, 1]}]}),
    )
    assert json.loads(ok.body)["image"]["state"] == "labeled"
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch(
            *api("datasets", "3", "images", "5"),
            method="PUT",
            body=json.dumps({"shapes": [{"type": "bbox", "class": "cow", "bbox": [0, 0, 1, 1]}]}),
        )
    assert e.value.code == 400
    assert json.loads(e.value.response.body)["message"] == "Shape 1: unknown class 'cow'"


@pytest.mark.parametrize("body", ["[]", '{"shapes": "none"}', "not json"])
async def test_a_malformed_submit_is_refused_here(jp_fetch, fake, body):
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch(*api("datasets", "3", "images", "5"), method="PUT", body=body)
    assert e.value.code == 400
    assert fake.requests == []


async def test_image_bytes_are_streamed_whole(jp_fetch, fake):
    resp = await jp_fetch(*api("datasets", "3", "images", "5", "file"))
    assert resp.code == 200
    assert resp.headers["Content-Type"] == "image/png"
    assert resp.body == IMAGE
    assert fake.requests[0][:3] == ("GET", "annotations/datasets/3/images/5/file", AUTH)


async def test_a_missing_image_is_the_services_404(jp_fetch, fake):
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch(*api("datasets", "3", "images", "6", "file"))
    assert e.value.code == 404
    assert json.loads(e.value.response.body)["message"].startswith("No such image")


async def test_no_service_is_a_503(jp_fetch, fake, monkeypatch):
    monkeypatch.setenv("YTUNG_SERVICE_URL", "http://127.0.0.1:9/services/ytung/")
    for parts in (["projects"], ["datasets", "3", "images", "5", "file"]):
        with pytest.raises(HTTPClientError) as e:
            await jp_fetch(*api(*parts))
        assert e.value.code == 503


@pytest.mark.parametrize("parts", [["datasets", "x"], ["datasets", "3", "images", "..", "file"]])
async def test_only_numeric_ids_are_routed(jp_fetch, fake, parts):
    with pytest.raises(HTTPClientError) as e:
        await jp_fetch(*api(*parts))
    assert e.value.code == 404
    assert fake.requests == []


# -- the labeling notebook widget -----------------------------------------------------------

EDITOR_TS = Path(__file__).parents[2] / "labextension" / "src" / "labeling" / "editor.ts"
EDITOR_JS = Path(__file__).parents[2] / "ytung_widgets" / "labeling_editor.js"
TSC = Path(__file__).parents[2] / "labextension" / "node_modules" / ".bin" / "tsc"


@pytest.mark.skipif(not TSC.exists(), reason="the lab extension's node_modules are not installed")
def test_the_widget_runs_the_labs_editor(tmp_path):
    """``labeling_editor.js`` is ``editor.ts`` compiled: one editor for the Lab and notebooks."""
    subprocess.run(
        [
            str(TSC),
            str(EDITOR_TS),
            "--target",
            "ES2018",
            "--module",
            "ES2020",
            "--lib",
            "DOM,DOM.Iterable,ES2018",
            "--strict",
            "--skipLibCheck",
            "--outDir",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
    )
    compiled = (tmp_path / "editor.js").read_text(encoding="utf-8")
    shipped = EDITOR_JS.read_text(encoding="utf-8").split("\n", 4)[4]
    assert shipped == compiled, "regenerate ytung_widgets/labeling_editor.js (see its header)"


class FakeAnnotationClient(PlatformClient):
    """The service for the widget: dataset 3 (classes cat, dog) with images 5 and 7 in memory;
    image files come from ``AnnotationFake``."""

    def __init__(self, url):
        super().__init__(url=url, token=ALICE_TOKEN, lang="en")
        self.images = {
            5: {
                "id": 5,
                "file_name": "a.png",
                "width": 200,
                "height": 100,
                "state": "unlabeled",
                "shapes": [],
            },
            7: {
                "id": 7,
                "file_name": "b.png",
                "width": 200,
                "height": 100,
                "state": "unlabeled",
                "shapes": [],
            },
        }
        self.submitted = []

    def annotation_dataset(self, dataset_id):
        labeled = sum(i["state"] == "labeled" for i in self.images.values())
        return {
            "id": 3,
            "name": "cats",
            "classes": ["cat", "dog"],
            "object_types": ["bbox", "polygon"],
            "images": 2,
            "labeled": labeled,
            "unlabeled": 2 - labeled,
        }

    def next_annotation_image(self, dataset_id, after=0):
        todo = [
            i for i in sorted(self.images) if self.images[i]["state"] == "unlabeled" and i > after
        ]
        return self.images[todo[0]] if todo else None

    def annotation_images(self, dataset_id, state="", offset=0, limit=100):
        return {"total": 2, "images": [self.images[i] for i in sorted(self.images)]}

    def annotation_image(self, dataset_id, image_id):
        return self.images[image_id]

    def submit_annotation(self, dataset_id, image_id, shapes):
        if any(s["class"] not in ("cat", "dog") for s in shapes):
            raise PlatformError(400, f"Shape 1: unknown class {shapes[0]['class']!r}")
        self.submitted.append((image_id, shapes))
        self.images[image_id].update(state="labeled", shapes=shapes)
        return {"image": self.images[image_id], "next": self.next_annotation_image(3, image_id)}


def test_widget_shows_the_first_unlabeled_image_streamed_from_the_service(fake):
    w = LabelingWidget(3, client=FakeAnnotationClient(fake.url), lang="en")
    assert (w.dataset_name, w.classes, w.object_types) == (
        "cats",
        ["cat", "dog"],
        ["bbox", "polygon"],
    )
    assert w.image["id"] == 5 and w.image_data == IMAGE and w.revision == 1
    assert w.progress == {"labeled": 0, "images": 2} and w.error == ""
    assert fake.requests[-1][:3] == ("GET", "annotations/datasets/3/images/5/file", AUTH)
    assert repr(w) == "<LabelingWidget dataset=3 image='a.png'>"
    assert "export class LabelingEditor" in w._esm and "export default { render }" in w._esm
    assert w.labels["submit"] == "Submit"
    assert (
        LabelingWidget(3, client=FakeAnnotationClient(fake.url), lang="zh_CN").labels["submit"]
        == "提交"
    )


def test_widget_submit_saves_and_moves_on_or_shows_the_refusal(fake):
    client = FakeAnnotationClient(fake.url)
    w = LabelingWidget(3, client=client, lang="en")
    box = {"type": "bbox", "class": "cow", "bbox": [1, 1, 5, 5]}
    # what the browser sends on Submit
    w._on_message(w, {"type": "submit", "image_id": 5, "shapes": [box]}, [])
    assert w.error == "400: Shape 1: unknown class 'cow'"
    assert client.submitted == [] and w.image["id"] == 5
    box["class"] = "dog"
    assert w.submit([box]) is True
    assert client.submitted == [(5, [box])]
    assert w.progress == {"labeled": 1, "images": 2}
    assert (w.image["id"], w.revision, w.error) == (7, 2, "")
    assert w.status == "Submitted a.png; this is the next image"
    # an image whose file is missing on the service: the widget says so and keeps its image
    client.images[6] = dict(client.images[7], id=6)
    w.show_image(6)
    assert w.error == "404: No such image in annotation dataset x: 6"
    assert w.image["id"] == 7
    del client.images[6]
    w._on_message(w, {"type": "open", "direction": "previous"}, [])
    assert (w.image["id"], w.error) == (5, "")
    w.show_image(7)
    assert w.submit([]) is True
    assert w.status == "Submitted b.png; every image is labeled"
    assert w.progress == {"labeled": 2, "images": 2}


def test_widget_without_a_service(monkeypatch):
    monkeypatch.setenv("YTUNG_SERVICE_URL", "http://127.0.0.1:9/services/ytung/")
    w = LabelingWidget(3, lang="en")
    assert w.error.startswith("The Ytung service is unreachable")
    assert w.image is None
