"""Datasets in real Chromium (SPEC S1–S3): upload a small archive from the Lab's Datasets panel,
see it listed, open its detail, search for it; then the same panel in Chinese."""

from __future__ import annotations

import io
import zipfile

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
