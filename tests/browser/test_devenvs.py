"""Dev environments in headless Chromium: the service page (no Lab) and the Lab section."""

import time

import pytest

from tests.browser.sidebar import only_section, open_sidebar
from tests.browser.test_lab import login

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PASSWORD = "Secret-pass-42"


def wait_running(platform, token, env_id, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        env = platform.api("GET", f"devenvs/{env_id}", token).json()
        if env["status"] == "running" and env["ssh"]:
            platform.wait_for_server(env["owner"], token, env["server_name"])
            return env
        time.sleep(0.5)
    raise AssertionError(f"not running: {env}")


def test_page_and_lab_section(platform, admin_token, page, shot):
    platform.signup("kira", "Kira", PASSWORD)
    assert platform.api("POST", "vcs/default/members", admin_token, json={"user": "kira"}).ok
    token = platform.token("kira", PASSWORD)
    login(page, platform, "kira", PASSWORD)
    page.wait_for_load_state()
    # the front door for a user without a Lab: the create form with every D1 field
    page.goto(platform.url + "/services/ytung/devenvs?lang=en")
    page.fill("#d-name", "browser-env")
    page.fill("#d-description", "made in a browser")
    page.fill("#d-code-dir", "/home/kira/browser")
    page.select_option("#d-engine-source", "custom")
    assert page.locator("#d-custom").is_visible() and not page.locator("#d-engine").is_visible()
    page.fill("#d-custom", "registry.example.com/ai/pt:2.13")
    page.select_option("#d-job-type", "distributed")
    page.fill("#d-nodes", "2")
    page.fill("#d-devices", "3")
    assert page.locator("#d-total").input_value() == "6"
    page.select_option("#d-job-type", "regular")
    page.fill("#d-devices", "0")
    page.click("#ytung-devenv-form button[type=submit]")
    page.wait_for_selector("#ytung-message")
    row = page.locator("#ytung-devenvs tr[data-devenv]")
    assert "browser-env" in row.inner_text() and "/home/kira/browser" in row.inner_text()
    env_id = int(row.get_attribute("data-devenv"))
    env = wait_running(platform, token, env_id)
    page.reload()
    page.wait_for_selector("#ytung-devenvs .ytung-ssh")
    shot(page, "devenvs-page")
    # the Lab of that environment, with the Dev environments section
    page.goto(platform.url + env["lab_url"])
    page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
    open_sidebar(page)
    only_section(page, "Dev environments")
    card = page.wait_for_selector(f'[data-testid="ytung-devenv"][data-devenv="{env_id}"]')
    text = card.inner_text()
    assert "browser-env" in text and "ssh -p" in text and "/home/kira/browser" in text
    # a port out of range is refused in the panel
    panel = page.locator("#ytung-devenvs-panel")
    panel.locator('input[name="port"]').fill("8888")
    panel.locator(".ytung-devenv-port button").click()
    assert "40000-49999" in page.wait_for_selector('[data-testid="ytung-port-error"]').inner_text()
    # create a second one from the Lab
    panel.locator('[data-testid="ytung-devenvs-new"]').click()
    form = panel.locator('[data-testid="ytung-devenv-form"]')
    form.locator('input[name="name"]').fill("lab-env")
    form.locator('button[type="submit"]').click()
    page.wait_for_selector('[data-testid="ytung-devenv"] >> text=lab-env', timeout=30_000)
    shot(page, "lab-devenvs")
    for e in platform.api("GET", "devenvs", token).json():
        platform.api("POST", f"devenvs/{e['id']}/stop", token)
