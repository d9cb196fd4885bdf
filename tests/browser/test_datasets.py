"""Datasets in real Chromium (SPEC S1–S3): upload a small archive from the Lab's Datasets panel,
see it listed, open its detail, search for it; an upload that goes on after a page reload; then
the same panel in Chinese."""

from __future__ import annotations

import io
import os
import re
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
import requests

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PASSWORD = "Secret-pass-42"


def login(page, platform, username, password):
    page.goto(platform.url + "/hub/login")
    page.fill("#username_input", username)
    page.fill("#password_input", password)
    page.click("#login_submit")


@pytest.fixture(scope="module")
def lab_user(platform, admin_token):
    """A VC member whose Lab is running."""
    platform.signup("dina", "Dina 迪娜", PASSWORD)
    assert platform.api("POST", "vcs/default/members", admin_token, json={"user": "dina"}).ok
    token = platform.token("dina", PASSWORD)
    assert platform.hub_api("POST", "users/dina/server", token).status_code in (201, 202)
    platform.wait_for_server("dina", token)
    yield token
    platform.hub_api("DELETE", "users/dina/server", token)


def open_datasets(page, platform):
    login(page, platform, "dina", PASSWORD)
    page.wait_for_url("**/user/dina/lab**", timeout=120_000)
    return datasets_panel(page)


def datasets_panel(page):
    """The Datasets section of the Ytung sidebar in the Lab that ``page`` shows."""
    page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
    if not page.locator("#ytung-sidebar").is_visible():
        page.click("li[data-id='ytung-sidebar']")
    panel = page.locator("#ytung-datasets-panel")
    if not panel.is_visible():
        # the accordion's section title (a <h3> that toggles its section)
        page.locator(
            "#ytung-sidebar .jp-AccordionPanel-title",
            has=page.locator("text=/^(Datasets|数据集)$/"),
        ).first.click()
    page.wait_for_selector('[data-testid="ytung-datasets"]')
    page.set_viewport_size({"width": 1280, "height": 1000})
    return panel


def test_upload_from_the_lab_list_and_detail(platform, lab_user, page, shot, tmp_path):
    archive = tmp_path / "flowers.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("flowers/rose.jpg", b"\xff\xd8" + b"r" * 5000)
        zf.writestr("flowers/tulip.jpg", b"\xff\xd8" + b"t" * 5000)
        zf.writestr("labels.csv", "file,label\nrose.jpg,rose\n")
    panel = open_datasets(page, platform)
    panel.locator('[data-testid="ytung-datasets-add"]').click()
    panel.locator('[data-testid="ytung-dataset-form-name"]').fill("flowers")
    panel.locator('[data-testid="ytung-dataset-form-description"]').fill("Rose and tulip photos")
    panel.locator('[data-testid="ytung-dataset-form-permission"]').select_option("public")
    panel.locator('[data-testid="ytung-dataset-form-file"]').set_input_files(str(archive))
    panel.locator('[data-testid="ytung-dataset-form-submit"]').click()
    notice = panel.locator('[data-testid="ytung-datasets-notice"]')
    notice.wait_for()
    assert notice.inner_text() == "Dataset flowers version 1 is ready"
    detail = panel.locator('[data-testid="ytung-dataset-detail"]')
    assert detail.locator('[data-field="name"]').inner_text() == "flowers"
    assert detail.locator('[data-field="version"]').inner_text() == "1"
    assert detail.locator('[data-field="creator"]').inner_text() == "dina"
    assert detail.locator('[data-field="description"]').inner_text() == "Rose and tulip photos"
    path = detail.locator('[data-field="path"]').inner_text()
    assert path.startswith(str(platform.data_dir)) and path.endswith("/1")
    assert detail.locator('[data-field="size"]').inner_text().endswith("in 3 files")
    shot(page, "lab-datasets-detail")

    # the service really holds it, unpacked
    r = platform.api("GET", "datasets", lab_user, params={"q": "flowers"})
    found = [d for d in r.json() if d["name"] == "flowers"]
    assert found and found[0]["permission"] == "public"

    panel.locator('[data-testid="ytung-dataset-back"]').click()
    item = panel.locator('[data-testid="ytung-dataset"]', has_text="flowers")
    item.wait_for()
    assert item.locator('[data-field="creator"]').inner_text() == "dina"
    assert item.locator('[data-testid="ytung-dataset-permission"]').inner_text() == "Public"
    # the download link serves the zip through the Lab (cookie auth, as a click would)
    href = item.locator('[data-testid="ytung-dataset-download"]').get_attribute("href")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    url = href if href.startswith("http") else platform.url + href
    r = requests.get(url, cookies=cookies, timeout=60)
    assert r.status_code == 200, r.text
    with zipfile.ZipFile(io.BytesIO(r.content)) as zf:
        assert sorted(zf.namelist()) == ["flowers/rose.jpg", "flowers/tulip.jpg", "labels.csv"]

    # fuzzy search from the box
    panel.locator('[data-testid="ytung-datasets-search"]').fill("flowrs")
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="ytung-dataset-name"]')]
            .map(e => e.textContent).join(',') === 'flowers'"""
    )
    shot(page, "lab-datasets")

    # a wrong file type is refused in the form, before anything is sent
    panel.locator('[data-testid="ytung-datasets-search"]').fill("")
    panel.locator('[data-testid="ytung-datasets-add"]').click()
    bad = tmp_path / "notes.rar"
    bad.write_bytes(b"rar")
    panel.locator('[data-testid="ytung-dataset-form-name"]').fill("bad")
    panel.locator('[data-testid="ytung-dataset-form-file"]').set_input_files(str(bad))
    panel.locator('[data-testid="ytung-dataset-form-submit"]').click()
    error = panel.locator('[data-testid="ytung-dataset-form-error"]')
    assert "Only .zip, .tar and .tar.gz" in error.inner_text()


#: the Lab's bytes per upload request (labextension/src/uploads.ts: CHUNK_BYTES)
LAB_CHUNK = 8 << 20
#: the Lab's chunk requests, as the browser sends them
UPLOAD_PUT = re.compile(r".*/ytung/api/datasets/uploads/[0-9a-f]{32}(\?.*)?$")


def test_an_upload_goes_on_after_a_page_reload(platform, lab_user, page, shot, tmp_path):
    """The page reloads while the second chunk is on its way (a route holds it); after picking
    the same file again, only the chunks the service does not have yet are sent."""
    archive = tmp_path / "reloaded.tar"
    files = {"a.bin": os.urandom(9 << 20), "b.bin": os.urandom(9 << 20)}
    with tarfile.open(archive, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    size = archive.stat().st_size
    assert 2 * LAB_CHUNK < size < 3 * LAB_CHUNK  # three chunks

    sent: list[str] = []  # Content-Range of every chunk that left the page
    held = []

    def hold_after_the_first_chunk(route):
        if route.request.method != "PUT":
            route.continue_()
        elif route.request.headers.get("content-range", "").startswith("bytes 0-"):
            sent.append(route.request.headers["content-range"])
            route.continue_()
        else:
            held.append(route)  # never answered: on its way when the page reloads

    page.route(UPLOAD_PUT, hold_after_the_first_chunk)
    panel = open_datasets(page, platform)
    panel.locator('[data-testid="ytung-datasets-add"]').click()
    panel.locator('[data-testid="ytung-dataset-form-name"]').fill("reloaded")
    panel.locator('[data-testid="ytung-dataset-form-description"]').fill("Sent across a reload")
    panel.locator('[data-testid="ytung-dataset-form-file"]').set_input_files(str(archive))
    panel.locator('[data-testid="ytung-dataset-form-submit"]').click()
    deadline = time.monotonic() + 120
    while not held:
        assert time.monotonic() < deadline, "the second chunk was never sent"
        page.wait_for_timeout(100)
    assert sent == [f"bytes 0-{LAB_CHUNK - 1}/{size}"]
    assert panel.locator('[data-testid="ytung-dataset-progress-text"]').inner_text() == (
        f"{100 * LAB_CHUNK // size}% of {size / 2**20:.1f} MB"
    )

    # the held chunk goes away with the page (it is never let through)
    page.reload()
    page.unroute_all(behavior="ignoreErrors")
    sent.clear()

    def count(route):
        if route.request.method == "PUT":
            sent.append(route.request.headers.get("content-range"))
        route.continue_()

    page.route(UPLOAD_PUT, count)
    panel = datasets_panel(page)
    row = panel.locator('[data-testid="ytung-datasets-unfinished-row"]')
    row.wait_for()
    assert "reloaded" in row.inner_text() and "reloaded.tar" in row.inner_text()
    progress = row.locator('[data-testid="ytung-datasets-unfinished-progress"]').inner_text()
    assert progress.startswith(f"{100 * LAB_CHUNK // size}% of")
    shot(page, "lab-datasets-unfinished-upload")
    row.locator('[data-testid="ytung-datasets-unfinished-resume"]').click()
    form = panel.locator('[data-testid="ytung-dataset-form"]')
    assert form.locator('[data-testid="ytung-dataset-form-name"]').input_value() == "reloaded"
    assert "Pick reloaded.tar again" in form.inner_text()
    form.locator('[data-testid="ytung-dataset-form-file"]').set_input_files(str(archive))
    form.locator('[data-testid="ytung-dataset-form-resuming"]').wait_for()
    form.locator('[data-testid="ytung-dataset-form-submit"]').click()
    notice = panel.locator('[data-testid="ytung-datasets-notice"]')
    notice.wait_for(timeout=120_000)
    assert notice.inner_text() == "Dataset reloaded version 1 is ready"
    # only what the service did not have: from the end of the first chunk on
    assert sent == [
        f"bytes {LAB_CHUNK}-{2 * LAB_CHUNK - 1}/{size}",
        f"bytes {2 * LAB_CHUNK}-{size - 1}/{size}",
    ]
    found = [
        d
        for d in platform.api("GET", "datasets", lab_user, params={"q": "reloaded"}).json()
        if d["name"] == "reloaded"
    ]
    assert found and found[0]["file_count"] == 2 and found[0]["size_bytes"] == 18 << 20
    root = Path(found[0]["path"])
    assert all((root / name).read_bytes() == data for name, data in files.items())
    # finished: no longer listed as unfinished
    panel.locator('[data-testid="ytung-dataset-back"]').click()
    panel.locator('[data-testid="ytung-dataset"]', has_text="reloaded").wait_for()
    assert panel.locator('[data-testid="ytung-datasets-unfinished"]').count() == 0


def test_the_datasets_panel_in_chinese(platform, lab_user, page, shot):
    """X8: the panel follows JupyterLab's language (the manual's words)."""
    r = requests.put(
        f"{platform.url}/user/dina/lab/api/settings/@jupyterlab/translation-extension:plugin",
        json={"raw": '{"locale": "zh_CN"}'},
        headers={"Authorization": f"token {lab_user}"},
        timeout=30,
    )
    assert r.status_code == 204, r.text
    try:
        panel = open_datasets(page, platform)
        add = panel.locator('[data-testid="ytung-datasets-add"]')
        assert add.inner_text() == "新增数据集"
        item = panel.locator('[data-testid="ytung-dataset"]', has_text="flowers")
        item.wait_for()
        assert "创建者" in item.inner_text() and "更新时间" in item.inner_text()
        assert item.locator('[data-testid="ytung-dataset-permission"]').inner_text() == "公有"
        add.click()
        form = panel.locator('[data-testid="ytung-dataset-form"]').inner_text()
        for label in ("数据集名称", "简介", "是否已标注", "数据权限", "数据源", "服务器路径"):
            assert label in form, label
        shot(page, "lab-datasets-zh")
    finally:
        requests.put(
            f"{platform.url}/user/dina/lab/api/settings/@jupyterlab/translation-extension:plugin",
            json={"raw": '{"locale": "en"}'},
            headers={"Authorization": f"token {lab_user}"},
            timeout=30,
        )
