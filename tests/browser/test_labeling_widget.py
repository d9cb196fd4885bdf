"""The labeling notebook widget (SPEC S6) in a real JupyterLab, in headless Chromium.

The images and the annotation dataset come from the service API; then a notebook in the user's
workload displays ``LabelingWidget(<dataset>)``, the cell runs in the workload's kernel, and the
test picks a class, draws a box and a polygon on the widget's canvas with the mouse and submits.
The service must then hold exactly those two shapes, at the image pixels that were drawn. An
image left for another without Submit keeps nothing.
"""

from __future__ import annotations

import nbformat
import pytest
import requests

from tests.service.test_annotations import upload_images

pytestmark = [pytest.mark.slow, pytest.mark.browser]

USER = "wren"
PASSWORD = "Secret-pass-42"
IMAGES = {"desk/001.png": (640, 480), "desk/002.png": (800, 600), "desk/003.png": (320, 240)}
#: how far (image pixels) a stored coordinate may be from the drawn one: the mouse moves by
#: whole CSS pixels, about 1.1 image pixels at the fitted scale
TOLERANCE = 2.5

WIDGET = ".ytung-labeling-widget"


def tid(name: str) -> str:
    return f'[data-testid="{name}"]'


@pytest.fixture(scope="module")
def labeler(platform, admin_token):
    """``wren`` (User, member of ``default``) with a running JupyterLab; her hub token."""
    platform.signup(USER, "Wren", PASSWORD)
    assert platform.api("POST", "vcs/default/members", admin_token, json={"user": USER}).ok
    token = platform.token(USER, PASSWORD)
    assert platform.hub_api("POST", f"users/{USER}/server", token).status_code in (201, 202)
    platform.wait_for_server(USER, token)
    # no news toast over the widget's buttons
    lab_api(
        platform,
        token,
        "PUT",
        "lab/api/settings/@jupyterlab/apputils-extension:notification",
        json={"raw": '{"fetchNews": "false", "checkForUpdates": false}'},
    )
    yield token
    platform.hub_api("DELETE", f"users/{USER}/server", token)


def lab_api(platform, token, method, path, **kw) -> requests.Response:
    """A call to the user's Jupyter server (``path`` under ``/user/<name>/``)."""
    r = requests.request(
        method,
        f"{platform.url}/user/{USER}/{path}",
        headers={"Authorization": f"token {token}"},
        timeout=30,
        **kw,
    )
    assert r.ok, r.text
    return r


@pytest.fixture(scope="module")
def annotation_dataset(platform, labeler) -> dict:
    """Annotation dataset ``desk`` (classes cup, pen) over three unlabeled images, via the API."""
    source = upload_images(platform, labeler, "desk-raw", IMAGES)
    r = platform.api("POST", "annotations/projects", labeler, json={"name": "desk"})
    assert r.status_code == 201, r.text
    r = platform.api(
        "POST",
        f"annotations/projects/{r.json()['id']}/datasets",
        labeler,
        json={
            "name": "desk",
            "description": "cups and pens",
            "source": source["id"],
            "classes": ["cup", "pen"],
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def image(platform, token, dataset: dict, image_id: int) -> dict:
    r = platform.api("GET", f"annotations/datasets/{dataset['id']}/images/{image_id}", token)
    assert r.status_code == 200, r.text
    return r.json()


def open_notebook(page, platform, token, dataset: dict) -> None:
    """Write ``label.ipynb`` (displaying the widget) into the workload, open it, run the cell."""
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "from ytung_widgets import LabelingWidget\n"
                f"LabelingWidget({dataset['id']}, lang='en')"
            )
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    lab_api(
        platform,
        token,
        "PUT",
        "api/contents/label.ipynb",
        json={"type": "notebook", "format": "json", "content": nb},
    )
    page.goto(platform.url + "/hub/login")
    page.fill("#username_input", USER)
    page.fill("#password_input", PASSWORD)
    page.click("#login_submit")
    page.wait_for_url(f"**/user/{USER}/lab**", timeout=120_000)
    page.goto(f"{platform.url}/user/{USER}/lab/tree/label.ipynb")
    page.wait_for_selector(".jp-Notebook .jp-CodeCell .cm-content", timeout=120_000)
    # the kernel first: a cell run before it is connected asks which kernel to start
    page.locator(".jp-StatusBar-TextItem", has_text="Python 3 (ipykernel) | Idle").wait_for(
        timeout=120_000
    )
    page.locator(".jp-Notebook .jp-CodeCell .cm-content").first.click()
    page.keyboard.press("Shift+Enter")
    page.wait_for_selector(f'{WIDGET} .ytung-labeling-editor[data-loaded="true"]', timeout=60_000)


class Canvas:
    """The widget's canvas: image pixels to page pixels, as the editor fits the image in it."""

    def __init__(self, page, width: int, height: int):
        box = page.locator(f"{WIDGET} {tid('ytung-labeling-canvas')}").bounding_box()
        self.page = page
        self.scale = min(box["width"] / width, box["height"] / height) * 0.98
        self.x = box["x"] + (box["width"] - width * self.scale) / 2
        self.y = box["y"] + (box["height"] - height * self.scale) / 2

    def at(self, x: float, y: float) -> tuple[float, float]:
        return self.x + x * self.scale, self.y + y * self.scale

    def drag(self, a: tuple[float, float], b: tuple[float, float]) -> None:
        self.page.mouse.move(*self.at(*a))
        self.page.mouse.down()
        self.page.mouse.move(*self.at(*b), steps=5)
        self.page.mouse.up()

    def click(self, x: float, y: float) -> None:
        self.page.mouse.click(*self.at(x, y))


def near(stored: list[float], drawn: list[float]) -> bool:
    return len(stored) == len(drawn) and all(
        abs(s - d) <= TOLERANCE for s, d in zip(stored, drawn, strict=True)
    )


def test_label_in_a_notebook_and_leave_without_submit(
    platform, labeler, annotation_dataset, page, shot
):
    dataset = annotation_dataset
    tasks = platform.api("GET", f"annotations/datasets/{dataset['id']}/images", labeler).json()
    first, second = tasks["images"][0], tasks["images"][1]
    open_notebook(page, platform, labeler, dataset)
    widget = page.locator(WIDGET)
    assert widget.get_attribute("data-image") == str(first["id"])
    assert widget.locator(".ytung-labeling-progress").inner_text() == "0 of 3 labeled"

    canvas = Canvas(page, first["width"], first["height"])
    # a pen box, then a cup polygon (closed by a click on its first point)
    widget.locator(tid("ytung-labeling-class")).select_option("pen")
    widget.locator(tid("ytung-labeling-tool-bbox")).click()
    canvas.drag((100, 80), (300, 240))
    widget.locator(tid("ytung-labeling-class")).select_option("cup")
    widget.locator(tid("ytung-labeling-tool-polygon")).click()
    polygon = [(350, 100), (500, 150), (420, 300)]
    for point in polygon:
        canvas.click(*point)
    canvas.click(*polygon[0])
    # the editor's shortcuts are the editor's, not the notebook's (B would insert a cell)
    cells = page.locator(".jp-Notebook .jp-Cell")
    count = cells.count()
    page.keyboard.press("2")
    page.keyboard.press("b")
    canvas.drag((20, 300), (60, 400))
    items = widget.locator(tid("ytung-labeling-item"))
    items.nth(2).wait_for()
    assert items.nth(2).inner_text().split()[:2] == ["pen", "bbox"]
    page.keyboard.press("Delete")  # the new box is selected: deleted
    page.wait_for_function(
        "document.querySelectorAll('.ytung-labeling-widget .ytung-labeling-item').length === 2"
    )
    assert cells.count() == count
    assert [items.nth(i).inner_text().split()[:2] for i in range(2)] == [
        ["pen", "bbox"],
        ["cup", "polygon"],
    ]
    status = widget.locator(".ytung-labeling-status").inner_text()
    assert status == "desk/001.png: 2 objects · not submitted"
    # nothing reaches the service before Submit
    assert image(platform, labeler, dataset, first["id"])["shapes"] == []
    shot(page, "labeling-widget")

    widget.locator(".ytung-labeling-submit").click()
    widget.locator(".ytung-labeling-status", has_text="Submitted").wait_for()
    page.wait_for_selector(f'{WIDGET}[data-image="{second["id"]}"]')
    assert widget.locator(".ytung-labeling-progress").inner_text() == "1 of 3 labeled"
    stored = image(platform, labeler, dataset, first["id"])
    assert stored["state"] == "labeled"
    box, poly = stored["shapes"]
    assert (box["type"], box["class"], poly["type"], poly["class"]) == (
        "bbox",
        "pen",
        "polygon",
        "cup",
    )
    assert near(box["bbox"], [100, 80, 200, 160]), box
    assert near([c for p in poly["points"] for c in p], [c for p in polygon for c in p]), poly

    # the second image: draw, try to leave (Stay keeps the box), leave (nothing is kept)
    page.wait_for_selector(f'{WIDGET} .ytung-labeling-editor[data-loaded="true"]')
    canvas = Canvas(page, second["width"], second["height"])
    widget.locator(tid("ytung-labeling-tool-bbox")).click()
    canvas.drag((200, 200), (400, 400))
    items.first.wait_for()
    messages = []

    def answer(accept: bool):
        def handle(dialog):
            messages.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()

        return handle

    page.once("dialog", answer(False))
    widget.locator(".ytung-labeling-next").click()
    assert messages == ["Discard the unsubmitted changes of this image?"]
    assert widget.get_attribute("data-image") == str(second["id"]) and items.count() == 1
    page.once("dialog", answer(True))
    widget.locator(".ytung-labeling-next").click()
    page.wait_for_selector(f'{WIDGET}[data-image="{tasks["images"][2]["id"]}"]')
    assert len(messages) == 2
    left = image(platform, labeler, dataset, second["id"])
    assert (left["state"], left["shapes"]) == ("unlabeled", [])
    # back on it: the widget shows what the service has, nothing
    widget.locator(".ytung-labeling-previous").click()
    page.wait_for_selector(f'{WIDGET}[data-image="{second["id"]}"]')
    page.wait_for_selector(f'{WIDGET} .ytung-labeling-editor[data-loaded="true"]')
    assert items.count() == 0
    r = platform.api("GET", f"annotations/datasets/{dataset['id']}", labeler).json()
    assert (r["labeled"], r["unlabeled"]) == (1, 2)
