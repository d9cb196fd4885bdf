"""The real UI in headless Chromium: login, no-access page, admin page, Lab with the sidebar."""

import pytest

from tests.browser.sidebar import expanded_sections, only_section, open_sidebar
from tests.harness import ADMIN_PASSWORD

pytestmark = [pytest.mark.slow, pytest.mark.browser]

PASSWORD = "Secret-pass-42"


def login(page, platform, username, password):
    page.goto(platform.url + "/hub/login")
    page.fill("#username_input", username)
    page.fill("#password_input", password)
    page.click("#login_submit")


@pytest.mark.lang("zh-CN")
def test_signup_and_no_access_page_in_chinese(platform, page, shot):
    page.goto(platform.url + "/hub/login")
    assert page.locator("#login_submit").get_attribute("value") == "登录"
    page.click("#ytung-signup-link")
    page.fill("#username_input", "gina")
    page.fill("#nickname_input", "吉娜")
    page.fill("#password_input", PASSWORD)
    page.fill("#password_confirm_input", PASSWORD)
    page.click("#signup_submit")
    page.wait_for_selector("#ytung-signed-up")
    login(page, platform, "gina", PASSWORD)
    notice = page.wait_for_selector("#ytung-no-access")
    assert "您没有当前页面的访问权限" in notice.inner_text()
    shot(page, "no-access-zh")


def test_admin_page(platform, page, shot):
    login(page, platform, "admin", ADMIN_PASSWORD)
    page.goto(platform.url + "/hub/home")
    page.click("#ytung-admin-link")
    page.wait_for_selector("#ytung-vcs [data-vc='default']")
    assert page.locator("#ytung-console [data-count='vcs']").inner_text() == "1"
    shot(page, "admin")


def test_lab_sidebar_shows_the_user(platform, admin_token, page, shot):
    platform.signup("hana", "Hana", PASSWORD)
    assert platform.api("POST", "vcs/default/members", admin_token, json={"user": "hana"}).ok
    login(page, platform, "hana", PASSWORD)
    # front door → the spawn form (VC, devices) → pending → JupyterLab
    page.wait_for_selector("#ytung-spawn-form")
    assert page.locator("#ytung-vc").input_value() == "default"
    # X1: the form says before submission that this starts now
    page.wait_for_selector("#ytung-preview.alert-success")
    shot(page, "spawn-form")
    page.click("#spawn_form button[type=submit]")
    page.wait_for_url("**/user/hana/lab**", timeout=120_000)
    page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
    open_sidebar(page)
    name = page.wait_for_selector('[data-testid="ytung-overview-username"]')
    assert name.inner_text().strip() == "hana"
    vcs = page.locator('[data-testid="ytung-overview-vcs"]').inner_text()
    assert "default" in vcs
    # first load: Overview alone is expanded, the other sections are collapsed titles
    assert expanded_sections(page) == ["Overview"]
    assert not page.locator("#ytung-datasets-panel").is_visible()
    shot(page, "lab-sidebar")

    # the layout the user chose survives a reload
    only_section(page, "Datasets")
    page.locator("#ytung-sidebar .lm-AccordionPanel-title", has_text="Training").click()
    assert expanded_sections(page) == ["Training", "Datasets"]
    page.reload()
    page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
    open_sidebar(page)
    page.locator("#ytung-datasets-panel").wait_for()
    assert expanded_sections(page) == ["Training", "Datasets"]
    assert not page.locator("#ytung-overview-panel").is_visible()


def test_lab_sidebar_in_chinese(platform, admin_token, page, shot):
    """X8: the sidebar follows JupyterLab's language setting."""
    import requests

    platform.signup("ivy", "艾薇", PASSWORD)
    assert platform.api("POST", "vcs/default/members", admin_token, json={"user": "ivy"}).ok
    token = platform.token("ivy", PASSWORD)
    assert platform.hub_api("POST", "users/ivy/server", token).status_code in (201, 202)
    platform.wait_for_server("ivy", token)
    r = requests.put(
        f"{platform.url}/user/ivy/lab/api/settings/@jupyterlab/translation-extension:plugin",
        json={"raw": '{"locale": "zh_CN"}'},
        headers={"Authorization": f"token {token}"},
        timeout=30,
    )
    assert r.status_code == 204, r.text
    login(page, platform, "ivy", PASSWORD)
    page.wait_for_url("**/user/ivy/lab**", timeout=120_000)
    page.wait_for_selector("#jp-main-dock-panel", timeout=120_000)
    open_sidebar(page)
    page.wait_for_selector('[data-testid="ytung-overview-username"]')
    text = page.locator("#ytung-sidebar").inner_text()
    assert "总览" in text and "虚拟集群" in text and "艾薇" in text
    shot(page, "lab-sidebar-zh")
