"""Translations: every message the Python side and the hub templates show has a zh_CN text."""

from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir

from ytung_service import i18n

ROOT = Path(__file__).parent.parent.parent
KEYWORDS = {"_": None, "t": None, "N_": None, "DomainError": (2,)}
METHODS = [("**/templates/**.html", "jinja2.ext:babel_extract"), ("**.py", "python")]
SOURCES = ["ytung_service", "ytung_spawner", "hub_config"]


def extracted_messages() -> set[str]:
    found = set()
    for source in SOURCES:
        for _file, _line, message, _comments, _ctx in extract_from_dir(
            ROOT / source, METHODS, keywords=KEYWORDS, comment_tags=()
        ):
            if isinstance(message, str) and message.strip():
                found.add(message)
    return found


def test_extraction_finds_the_messages():
    messages = extracted_messages()
    assert "Password must be at least 8 characters" in messages  # N_ in passwords.py
    assert "No such user: {name}" in messages  # DomainError
    assert "Create an account" in messages  # hub template
    assert "Platform admin" in messages  # service template


def test_every_message_has_a_chinese_translation():
    catalog = i18n._catalog("zh_CN", "ytung")
    missing = sorted(m for m in extracted_messages() if not catalog.get(m))
    assert not missing, (
        "add these to ytung_service/locale/zh_CN/LC_MESSAGES/ytung.po:\n" + "\n".join(missing)
    )


def test_no_stale_translations():
    stale = sorted(set(i18n._catalog("zh_CN", "ytung")) - extracted_messages())
    assert not stale, "no longer used in the code:\n" + "\n".join(stale)


@pytest.mark.parametrize(
    "cookie, accept, expected",
    [
        (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
        (None, "en-US,en;q=0.9,zh-CN;q=0.5", "en"),
        (None, "fr-FR,zh-TW;q=0.7", "zh_CN"),
        (None, "", "en"),
        (None, "de", "en"),
        ("en", "zh-CN", "en"),
        ("zh_CN", "en", "zh_CN"),
    ],
)
def test_negotiate(cookie, accept, expected):
    assert i18n.negotiate(cookie, accept) == expected


def test_translator_fills_params_in_both_languages():
    assert i18n.translator("en")("No such user: {name}", name="x") == "No such user: x"
    assert "x" in i18n.translator("zh_CN")("No such user: {name}", name="x")
    assert i18n.translator("zh_CN")("No such user: {name}", name="x") != "No such user: x"
