"""The Overview notebook widget against the FakeService (blocking client, as in a kernel)."""

from __future__ import annotations

import pytest

from ytung_service.client import PlatformClient
from ytung_widgets import Overview
from ytung_widgets.i18n import default_language, gettext
from ytung_widgets.overview import render_overview

from .conftest import ALICE_TOKEN
from .fake_service import me_document


def test_overview_shows_user_roles_and_vcs(fake_service):
    w = Overview(lang="en")
    html = w._body.value
    assert '<span class="ytung-overview-username">alice</span>' in html
    assert "Alice" in html and "User" in html and "vc-a" in html and "Team A GPUs" in html
    assert w.error == "" and w.me["name"] == "alice"
    assert fake_service.requests[-1][2] == f"token {ALICE_TOKEN}"
    assert repr(w) == "<Overview user='alice' lang='en'>"


def test_overview_without_vcs_says_so(fake_service):
    fake_service.users[ALICE_TOKEN] = me_document(vcs=[])
    w = Overview(lang="en")
    assert "You are not a member of any virtual cluster yet" in w._body.value


def test_overview_refresh_fetches_again(fake_service):
    w = Overview(lang="en")
    fake_service.users[ALICE_TOKEN] = me_document(nickname="Alice Liddell")
    w._refresh.click()
    assert "Alice Liddell" in w._body.value
    assert len(fake_service.requests) == 2


def test_overview_shows_service_errors(fake_service):
    fake_service.fail_with = (403, "You may not use the platform")
    w = Overview(lang="en")
    assert (w.error_status, w.error) == (403, "You may not use the platform")
    assert "Could not load your platform profile" in w._body.value
    assert "403: You may not use the platform" in w._body.value


def test_overview_shows_unreachable_service(fake_service):
    fake_service.stop()
    w = Overview(client=PlatformClient(url=fake_service.url, timeout=2), lang="en")
    assert w.error_status == 503
    assert "The Ytung service is unreachable" in w._body.value


def test_overview_without_service_url(monkeypatch):
    monkeypatch.delenv("YTUNG_SERVICE_URL", raising=False)
    w = Overview(lang="en")
    assert "YTUNG_SERVICE_URL" in w._body.value


def test_overview_in_chinese(fake_service):
    fake_service.users[ALICE_TOKEN] = me_document(vcs=[])
    w = Overview(lang="zh_CN")
    assert "alice" in w._body.value
    assert "虚拟集群" in w._body.value and "角色" in w._body.value
    assert w._refresh.description == "刷新"
    w.lang = "en"
    assert w._refresh.description == "Refresh"
    assert "You are not a member of any virtual cluster yet" in w._body.value


def test_overview_without_loading_does_not_call(fake_service):
    w = Overview(lang="en", load=False)
    assert fake_service.requests == []
    assert "Loading" in w._body.value


def test_render_escapes_html():
    html = render_overview(me_document(name="<script>", vcs=[], roles=[]), gettext("en"))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "No roles" in html


@pytest.mark.parametrize(
    "environ, lang",
    [
        ({}, "en"),
        ({"LANG": "C.UTF-8"}, "en"),
        ({"LANG": "zh_CN.UTF-8"}, "zh_CN"),
        ({"LANGUAGE": "zh_CN:en", "LANG": "en_US.UTF-8"}, "zh_CN"),
        ({"YTUNG_LANG": "en", "LANG": "zh_CN.UTF-8"}, "en"),
    ],
)
def test_default_language(environ, lang):
    assert default_language(environ) == lang


def test_labeling_glue_reads_only_words_the_widget_translates():
    """Every word the labeling widget's browser glue reads (``l.x``, ``labels().x``) is one of
    its translated labels, in both languages."""
    import re

    from ytung_widgets.labeling import GLUE_JS, editor_labels

    used = set(re.findall(r"\b(?:l|labels\(\))\.([a-z][A-Za-z]*)\b(?!\()", GLUE_JS))
    assert {"previous", "next", "submit", "progress", "objects", "unsaved", "discard"} <= used
    english, chinese = editor_labels(gettext("en")), editor_labels(gettext("zh_CN"))
    assert used <= set(english)
    assert english["objects"] == "%1: %2 objects"
    assert chinese["objects"] == "%1：%2 个标注对象"
    assert {k for k in used if chinese[k] == english[k]} == set()
