"""The zh_CN catalogs of the lab side are complete and the Lab JSON matches its .po source."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).parents[2]
LAB_PO = ROOT / "labextension" / "po" / "zh_CN.po"
LAB_JSON = ROOT / "ytung_server_ext" / "locale" / "zh_CN" / "LC_MESSAGES" / "ytung.json"
WIDGETS_PO = ROOT / "ytung_service" / "locale" / "zh_CN" / "LC_MESSAGES" / "ytung_widgets.po"

# trans.__('…') / trans._n('…', '…', n) / trans._p('ctx', '…') with a literal first argument
TRANS_CALL = re.compile(r"""trans\.__\(\s*(['"])((?:\\.|(?!\1).)*)\1""", re.S)
# _("…") in the widgets
GETTEXT_CALL = re.compile(r"""(?<![\w.])_\(\s*(['"])((?:\\.|(?!\1).)*)\1""", re.S)


def po_messages(path: Path) -> dict[str, str]:
    with open(path, "rb") as f:
        catalog = read_po(f)
    return {m.id: m.string for m in catalog if m.id}


def source_strings(folder: Path, pattern: re.Pattern, glob: str) -> set[str]:
    found = set()
    for path in folder.rglob(glob):
        if "__tests__" in path.parts:
            continue
        for match in pattern.finditer(path.read_text(encoding="utf-8")):
            found.add(match.group(2).replace("\\'", "'").replace('\\"', '"'))
    return found


def test_lab_catalog_covers_every_string():
    used = source_strings(ROOT / "labextension" / "src", TRANS_CALL, "*.ts*")
    assert "Overview" in used and "You are not a member of any virtual cluster yet" in used
    assert "Use this VC" in used and "My queued workloads" in used
    messages = po_messages(LAB_PO)
    assert sorted(used - {k for k, v in messages.items() if v}) == []


def test_lab_catalog_uses_the_manual_words():
    messages = po_messages(LAB_PO)
    assert messages["Virtual clusters"] == "虚拟集群"
    assert messages["Quota"] == "配额"
    assert messages["Queued"] == "队列中"
    assert messages["Max usage duration"] == "最大使用时长"
    assert messages["Use this VC"] == "设为当前"


def test_lab_json_is_the_po_converted():
    data = json.loads(LAB_JSON.read_text(encoding="utf-8"))
    assert data[""]["domain"] == "ytung"
    assert data[""]["language"] == "zh-CN"
    expected = {k: [v] for k, v in po_messages(LAB_PO).items() if v}
    assert {k: v for k, v in data.items() if k} == expected, (
        "run `jlpm build:locale` in labextension/"
    )


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_po2json_script_reproduces_the_json(tmp_path):
    out = tmp_path / "ytung.json"
    subprocess.run(
        ["node", "scripts/po2json.mjs", "po/zh_CN.po", str(out)],
        cwd=ROOT / "labextension",
        check=True,
        capture_output=True,
    )
    assert json.loads(out.read_text()) == json.loads(LAB_JSON.read_text(encoding="utf-8"))


def test_jupyterlab_finds_the_lab_catalog():
    from jupyterlab_server.translation_utils import get_installed_packages_locale

    data, message = get_installed_packages_locale("zh_CN")
    if "ytung" not in data:
        pytest.skip("ytung is not installed (pip install -e .): no jupyterlab.locale entry point")
    assert data["ytung"]["Overview"] == ["总览"]


def test_widgets_catalog_covers_every_string():
    used = source_strings(ROOT / "ytung_widgets", GETTEXT_CALL, "*.py")
    assert "Roles" in used and "Refresh" in used
    messages = po_messages(WIDGETS_PO)
    assert sorted(used - {k for k, v in messages.items() if v}) == []


SERVER_EXT_PO = ROOT / "ytung_service" / "locale" / "zh_CN" / "LC_MESSAGES" / "ytung_server_ext.po"


def http_error_messages(folder: Path) -> set[str]:
    """The literal messages of ``web.HTTPError(status, "…", …)`` in ``folder`` (not "%s":
    a relayed message, translated where it was written)."""
    import ast

    found = set()
    for path in folder.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or len(node.args) < 2:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            message = node.args[1]
            if name == "HTTPError" and isinstance(message, ast.Constant):
                if isinstance(message.value, str) and message.value != "%s":
                    found.add(message.value)
    return found


def test_server_extension_catalog_covers_every_error():
    used = http_error_messages(ROOT / "ytung_server_ext")
    used |= source_strings(ROOT / "ytung_server_ext" / "apihandlers", GETTEXT_CALL, "*.py")
    assert "Expected a JSON object" in used
    messages = po_messages(SERVER_EXT_PO)
    assert sorted(used - {k for k, v in messages.items() if v}) == []
