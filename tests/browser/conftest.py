"""Browser fixtures: Debian's Chromium driven by Playwright (never a downloaded browser).

- ``browser``: one headless Chromium for the module
- ``page``: a fresh context and page per test (``lang`` marker sets the browser locale)
- ``shot(page, name)``: saves a screenshot to ``test-artifacts/`` (and to
  ``docs/screenshots/`` when ``YTUNG_UPDATE_SCREENSHOTS=1``, for the README)

Driving the Ytung sidebar (``open_sidebar``, ``only_section``, ``expanded_sections``) is in
``tests/browser/sidebar.py``: plain functions the tests import.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent.parent
ARTIFACTS = ROOT / "test-artifacts"
SCREENSHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser():
    playwright = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `make test` installs Debian's chromium")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    marker = request.node.get_closest_marker("lang")
    locale = marker.args[0] if marker else "en-US"
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


@pytest.fixture
def shot():
    def save(page, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path))
        if os.environ.get("YTUNG_UPDATE_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, SCREENSHOTS / path.name)
        return path

    return save
