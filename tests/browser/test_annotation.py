"""Annotation in the real Lab (SPEC S4–S7), in headless Chromium on the real platform.

A user uploads an unlabeled image dataset through the Datasets section, creates an annotation
project and dataset in the Annotation section, opens the labeling tool, draws a box and a
polygon, submits, is warned before leaving unsubmitted changes, converts the dataset to COCO
(watching its progress), and the resulting ``annotations.json`` is checked with pycocotools.
"""

from __future__ import annotations

import json
import zipfile

import pytest
import requests
from pycocotools.coco import COCO

from tests.browser.sidebar import only_section, open_sidebar
from tests.service.test_annotations import png_bytes
from ytung_service import coco

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PASSWORD = "Secret-pass-42"
IMAGES = {"street/001.png": (640, 480), "street/002.png": (800, 600), "street/003.png": (320, 240)}


def login(page, platform, username, password):
    page.goto(platform.url + "/hub/login")
    page.fill("#username_input", username)
    page.fill("#password_input", password)
    page.click("#login_submit")


def tid(name: str) -> str:
    return f'[data-testid="{name}"]'


@pytest.fixture(scope="module")
def labeler(platform, admin_token):
    """``pia`` (role User, member of ``default``) with a running JupyterLab."""
    platform.signup("pia", "Pia", PASSWORD)
    assert platform.api("POST", "vcs/default/members", admin_token, json={"user": "pia"}).ok
    token = platform.token("pia", PASSWORD)
    assert platform.hub_api("POST", "users/pia/server", token).status_code in (201, 202)
    platform.wait_for_server("pia", token)
    # no news toast over the labeling tool's buttons
    r = requests.put(
        f"{platform.url}/user/pia/lab/api/settings/@jupyterlab/apputils-extension:notification",
        json={"raw": '{"fetchNews": "false", "checkForUpdates": false}'},
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )
    assert r.status_code == 204, r.text
    yield token
    platform.hub_api("DELETE", "users/pia/server", token)


def open_lab(page, platform):
    login(page, platform, "pia", PASSWORD)
    page.wait_for_url("**/user/pia/lab**", timeout=120_000)
    page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
    open_sidebar(page)


def upload_through_the_datasets_section(page, tmp_path):
    only_section(page, "Datasets")

    archive = tmp_path / "street.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for rel, (w, h) in IMAGES.items():
            z.writestr(rel, png_bytes(w, h))
    datasets = page.locator("#ytung-datasets-panel")
    datasets.locator(tid("ytung-datasets-add")).click()
    form = datasets.locator(tid("ytung-dataset-form"))
    form.locator(tid("ytung-dataset-form-name")).fill("street-raw")
    form.locator(tid("ytung-dataset-form-description")).fill("street images, not labeled")
    form.locator(tid("ytung-dataset-form-labeled")).set_checked(False)
    form.locator(tid("ytung-dataset-form-file")).set_input_files(str(archive))
    form.locator(tid("ytung-dataset-form-submit")).click()
    # the section says so and shows the new dataset
    datasets.locator(tid("ytung-datasets-notice"), has_text="street-raw").wait_for()


def canvas_point(page, fx: float, fy: float) -> tuple[float, float]:
    """A point of the labeling canvas at fractions of its size (its centre is on the image)."""
    box = page.locator(tid("ytung-labeling-canvas")).bounding_box()
    return box["x"] + fx * box["width"], box["y"] + fy * box["height"]


def test_label_and_export_in_the_lab(platform, labeler, page, shot, tmp_path):
    open_lab(page, platform)
    upload_through_the_datasets_section(page, tmp_path)
    source = next(
        d for d in platform.api("GET", "datasets", labeler).json() if d["name"] == "street-raw"
    )

    only_section(page, "Annotation")
    ann = page.locator("#ytung-annotation-panel")
    ann.locator(tid("ytung-project-new")).click()
    ann.locator(tid("ytung-project-name")).fill("街景")
    ann.locator(tid("ytung-project-description")).fill("street scenes")
    ann.locator(tid("ytung-project-save")).click()
    row = ann.locator(tid("ytung-project"), has_text="街景")
    row.wait_for()
    row.locator(tid("ytung-project-open")).click()
    ann.locator(tid("ytung-ann-dataset-new")).click()
    ann.locator(tid("ytung-ann-dataset-name")).fill("cars")
    ann.locator(tid("ytung-ann-dataset-description")).fill("cars and people")
    ann.locator(f'{tid("ytung-ann-dataset-source")} option[value="{source["id"]}"]').wait_for(
        state="attached"
    )
    ann.locator(tid("ytung-ann-dataset-source")).select_option(str(source["id"]))
    ann.locator(tid("ytung-ann-dataset-classes")).fill("car, person")
    ann.locator(tid("ytung-ann-dataset-save")).click()
    card = ann.locator(tid("ytung-ann-dataset"), has_text="cars")
    card.wait_for()
    assert card.locator(tid("ytung-ann-dataset-counts")).inner_text() == "0 of 3 labeled"
    shot(page, "annotation-panel")

    # S6: the labeling tool in the main area, on the first unlabeled image
    card.locator(tid("ytung-ann-dataset-label")).click()
    page.wait_for_selector('.ytung-labeling-editor[data-loaded="true"]')
    tasks = page.locator(tid("ytung-labeling-task"))
    assert tasks.count() == 3
    first_image = tasks.nth(0).get_attribute("data-image")

    page.keyboard.press("b")
    page.mouse.move(*canvas_point(page, 0.42, 0.42))
    page.mouse.down()
    page.mouse.move(*canvas_point(page, 0.55, 0.58), steps=5)
    page.mouse.up()
    page.keyboard.press("2")  # class 2: person, for the polygon
    page.keyboard.press("p")
    for fx, fy in [(0.45, 0.4), (0.6, 0.45), (0.5, 0.6)]:
        page.mouse.click(*canvas_point(page, fx, fy))
    page.keyboard.press("Enter")
    items = page.locator(tid("ytung-labeling-item"))
    items.nth(1).wait_for()  # the object list re-renders after the polygon closes
    assert items.count() == 2
    assert [items.nth(i).inner_text().split()[0] for i in range(2)] == ["car", "person"]
    shot(page, "annotation-labeling")
    page.locator(tid("ytung-labeling-submit")).click()
    page.locator(tid("ytung-labeling-status"), has_text="Submitted").wait_for()
    page.wait_for_selector(
        f'{tid("ytung-labeling-task")}[data-image="{first_image}"][data-state="labeled"]'
    )
    assert page.locator(tid("ytung-labeling-progress")).inner_text() == "1 of 3 labeled"

    # leaving the next image with unsubmitted changes asks first; Stay keeps them
    page.wait_for_selector('.ytung-labeling-editor[data-loaded="true"]')
    page.keyboard.press("b")
    page.mouse.move(*canvas_point(page, 0.45, 0.45))
    page.mouse.down()
    page.mouse.move(*canvas_point(page, 0.52, 0.52), steps=3)
    page.mouse.up()
    tasks.nth(2).click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for()
    assert "Discard unsubmitted changes?" in dialog.inner_text()
    dialog.locator("button", has_text="Stay").click()
    assert page.locator(tid("ytung-labeling-item")).count() == 1

    # S7: convert to COCO in the background, with progress, into a labeled dataset
    card.locator(tid("ytung-ann-dataset-export")).click()
    status = card.locator(f'{tid("ytung-ann-dataset-export-status")}[data-status="completed"]')
    status.wait_for()
    assert "Done: 2 annotations" in status.inner_text()

    dataset_id = int(card.get_attribute("data-dataset"))
    export = platform.api("GET", f"annotations/datasets/{dataset_id}/exports", labeler).json()[0]
    result = export["result"]
    folder = platform.data_dir / "datasets" / str(result["dataset_id"]) / str(result["version"])
    api = COCO(str(folder / "annotations.json"))
    assert [c["name"] for c in api.loadCats(api.getCatIds())] == ["car", "person"]
    [image] = api.loadImgs(api.getImgIds())
    assert (image["width"], image["height"]) == (640, 480)
    assert (folder / "images" / image["file_name"]).read_bytes() == png_bytes(640, 480)
    anns = api.loadAnns(api.getAnnIds())
    box, polygon = sorted(anns, key=lambda a: a["category_id"])
    assert box["category_id"] == 1 and box["segmentation"] == []
    x, y, w, h = box["bbox"]
    assert 0 <= x and x + w <= 640 and 0 <= y and y + h <= 480 and w > 10 and h > 10
    assert box["area"] == round(w * h, 6)
    assert polygon["category_id"] == 2 and len(polygon["segmentation"][0]) == 6
    points = [polygon["segmentation"][0][i : i + 2] for i in (0, 2, 4)]
    assert polygon["area"] == round(coco.polygon_area(points), 6) > 0
    assert int(api.annToMask(polygon).sum()) > 0
    written = json.loads((folder / "annotations.json").read_text())
    assert written == platform.api("GET", f"annotations/datasets/{dataset_id}/coco", labeler).json()
    r = platform.api("GET", f"datasets/{result['dataset_id']}", labeler)
    assert r.json()["labeled"] is True
    shot(page, "annotation-export")
