"""The Dev environments widget (SPEC D1, D2): list my environments and create one from a notebook.

    from ytung_widgets.devenvs import DevEnvs
    DevEnvs()                                   # the list, a refresh button and a create form
    DevEnvs().create(name="exp1", engine="pytorch-2.13-cpu")   # the same from code

The HTML of the list is made by the pure :func:`render_devenvs` (tested on literal data); the
widget fetches ``/api/v1/devenvs`` through :mod:`ytung_service.client`. Errors are shown in the
widget, never raised by the buttons (``create`` from code raises :class:`PlatformError`).
"""

from __future__ import annotations

from html import escape

import ipywidgets as widgets
from traitlets import List

from .base import PlatformWidget, error_box


def _time_left(seconds) -> str:
    if seconds is None:
        return "--"
    return f"{int(seconds) // 3600}:{int(seconds) % 3600 // 60:02d}"


def render_devenvs(envs: list[dict], _) -> str:
    """A table of the environments (the D2 columns), translated with ``_``."""
    if not envs:
        return f'<div class="ytung-devenvs-empty">{escape(_("No dev environments yet"))}</div>'
    headers = (
        _("Name"),
        _("Status"),
        _("Engine"),
        _("Created"),
        _("Remaining run time"),
        _("Code dir"),
        _("Description"),
        _("Privileged"),
        _("SSH"),
    )
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    rows = []
    for e in envs:
        ssh = e.get("ssh") or {}
        name = escape(str(e.get("name", "")))
        if e.get("lab_url"):
            name = f'<a href="{escape(e["lab_url"])}" target="_blank">{name}</a>'
        cells = [
            name,
            escape(str(e.get("status_text") or e.get("status", ""))),
            escape(f"{e.get('engine_type', '')} {e.get('image', '')}".strip()),
            escape(str(e.get("created") or "")[:16].replace("T", " ")),
            escape(_time_left(e.get("time_left"))),
            escape(str(e.get("code_dir", ""))),
            escape(str(e.get("description", ""))),
            escape(_("Yes") if e.get("privileged") else _("No")),
            f"<code>{escape(ssh['command'])}</code>" if ssh.get("command") else "",
        ]
        rows.append(
            f'<tr data-devenv="{int(e.get("id", 0))}">'
            + "".join(f"<td>{c}</td>" for c in cells)
            + "</tr>"
        )
    return (
        f'<table class="ytung-devenvs"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


class DevEnvs(PlatformWidget):
    """My dev environments, a refresh button and a small create form (name, engine, devices).

    ``envs`` holds the last list from the service, ``error`` the last error message.
    """

    envs = List(help="The service's /api/v1/devenvs document.")

    def __init__(self, client=None, lang: str | None = None, load: bool = True, **kwargs):
        super().__init__(client=client, lang=lang, **kwargs)
        self.add_class("ytung-devenvs-widget")
        self._title = widgets.HTML()
        self._body = widgets.HTML()
        self._refresh = widgets.Button(icon="refresh")
        self._refresh.on_click(lambda _b: self.refresh())
        self._name = widgets.Text()
        self._engine = widgets.Dropdown(options=[])
        self._devices = widgets.BoundedIntText(value=0, min=0, max=8)
        self._device_type = widgets.Dropdown(options=[("CPU", "")])
        self._create = widgets.Button(icon="plus")
        self._create.on_click(lambda _b: self._create_from_form())
        form = widgets.HBox(
            [self._name, self._engine, self._device_type, self._devices, self._create]
        )
        self.children = [self._title, self._body, self._refresh, form]
        self._render()
        if load:
            self.refresh()

    def refresh(self) -> None:
        """Fetch the list (and what the create form offers) again."""
        self._refresh.disabled = True
        try:
            envs = self._call("devenvs")
            if envs is not None:
                self.envs = envs
                options = self._call("devenv_options")
                if options:
                    self._engine.options = [e["name"] for e in options.get("engines", [])]
                    self._device_type.options = [("CPU", "")] + [
                        (t, t) for t in options.get("device_types", [])
                    ]
        finally:
            self._refresh.disabled = False
        self._render()

    def create(self, **spec) -> dict:
        """Create an environment (the D1 fields as keyword arguments); raises on refusal."""
        created = self.client().create_devenv(**spec)
        self.refresh()
        return created

    def _create_from_form(self) -> None:
        spec = {
            "name": self._name.value.strip(),
            "engine": self._engine.value or "",
            "device_type": self._device_type.value or None,
            "devices_per_node": int(self._devices.value),
        }
        if self._call("create_devenv", **spec) is not None:
            self._name.value = ""
            self.refresh()
        else:
            self._render()

    def _render(self) -> None:
        _ = self._
        self._title.value = f"<h3>{escape(_('Dev environments'))}</h3>"
        self._refresh.description = _("Refresh")
        self._create.description = _("Create")
        self._name.placeholder = _("Name")
        body = render_devenvs(list(self.envs), _)
        if self.error:
            body = error_box("ytung-devenvs-error", self.error_status, self.error) + body
        self._body.value = body

    def __repr__(self) -> str:
        return f"<DevEnvs {len(self.envs)} environments lang={self.lang!r}>"
