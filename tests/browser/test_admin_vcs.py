"""The VC admin pages in headless Chromium: create a VC with the form, see it, delete it (SPEC V1)."""

import pytest

from tests.harness import ADMIN_PASSWORD, RunningPlatform

pytestmark = [pytest.mark.slow, pytest.mark.browser]

GPU, NPU = "nvidia_gpu_amd64", "huawei_npu_arm64"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A platform with 8 simulated GPUs and 8 NPUs, so the form has devices to assign."""
    p = RunningPlatform(
        tmp_path_factory.mktemp("admin-vcs"),
        extra_env={"YTUNG_SIMULATED_DEVICES": f"gpu-node-1:{GPU}=8;npu-node-1:{NPU}=8"},
    )
    p.start()
    try:
        yield p
    finally:
        p.stop()


def test_admin_creates_and_deletes_a_vc(cluster, page, shot):
    page.goto(cluster.url + "/hub/login")
    page.fill("#username_input", "admin")
    page.fill("#password_input", ADMIN_PASSWORD)
    page.click("#login_submit")
    page.goto(cluster.url + "/hub/home")
    page.click("#ytung-admin-link")
    page.click("#ytung-admin-tabs [data-tab='vcs']")
    page.wait_for_selector("#ytung-vc-table tr[data-vc='default']")
    gpus = page.locator(f"#ytung-devices tr[data-device-type='{GPU}'] [data-field='unassigned']")
    assert gpus.inner_text() == "8"
    page.click("#ytung-new-vc")

    form = page.locator("#ytung-vc-form")
    unassigned = form.locator(f"[data-device-type='{GPU}'] [data-field='unassigned']")
    assert unassigned.inner_text() == "8 unassigned"
    page.fill("#ytung-vc-name", "vision")
    page.fill("#ytung-vc-description", "Computer vision team")
    page.fill(f"#ytung-quota-{GPU}", "4")
    page.fill(f"#ytung-user-max-{GPU}", "2")
    page.fill(f"#ytung-quota-{NPU}", "8")
    page.fill("#ytung-vc-max-hours", "24")
    page.click("#ytung-vc-submit")

    row = page.locator("#ytung-vc-table tr[data-vc='vision']")
    row.wait_for()
    assert "Created virtual cluster vision" in page.locator("#ytung-admin-message").inner_text()
    assert row.locator(f"[data-device-type='{GPU}'][data-field='quota']").inner_text() == "4"
    assert row.locator(f"[data-device-type='{GPU}'][data-field='user_max']").inner_text() == "2"
    assert row.locator(f"[data-device-type='{NPU}'][data-field='quota']").inner_text() == "8"
    assert row.locator("[data-field='max_hours']").inner_text() == "24"
    unassigned = page.locator(
        f"#ytung-devices tr[data-device-type='{GPU}'] [data-field='unassigned']"
    )
    assert unassigned.inner_text() == "4"
    shot(page, "admin-vcs")

    # delete asks first: dismissing keeps the VC, accepting deletes it
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.locator("[data-action='delete']").click()
    assert row.count() == 1
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("[data-action='delete']").click()
    page.wait_for_selector("#ytung-admin-message")
    assert "Deleted virtual cluster vision" in page.locator("#ytung-admin-message").inner_text()
    assert page.locator("#ytung-vc-table tr[data-vc='vision']").count() == 0
