"""The Overview widget: who am I on the platform (nickname, roles, virtual clusters).

The HTML is made by the pure function :func:`render_overview` (tested on literal data); the
widget only fetches ``/api/v1/me`` and swaps the HTML. Errors are shown, never raised: a
notebook cell displaying a widget should not fail because the service is down.
"""

from __future__ import annotations

from html import escape

import ipywidgets as widgets
from traitlets import Dict

from .base import PlatformWidget, error_box


def render_overview(me: dict, _) -> str:
    """The body of the overview for the ``/api/v1/me`` document ``me``, translated with ``_``."""
    name = escape(str(me.get("name", "")))
    nickname = escape(str(me.get("nickname") or ""))
    rows = [
        f'<div class="ytung-overview-user"><b>{escape(_("User"))}:</b> '
        f'<span class="ytung-overview-username">{name}</span>'
        + (f' (<span class="ytung-overview-nickname">{nickname}</span>)' if nickname else "")
        + ("" if not me.get("admin") else f" <i>{escape(_('administrator'))}</i>")
        + "</div>"
    ]
    roles = me.get("roles") or []
    rows.append(f"<div><b>{escape(_('Roles'))}</b></div>")
    if roles:
        rows.append(
            '<ul class="ytung-overview-roles">'
            + "".join(f"<li>{escape(str(r.get('name', '')))}</li>" for r in roles)
            + "</ul>"
        )
    else:
        rows.append(f'<div class="ytung-overview-empty">{escape(_("No roles"))}</div>')
    vcs = me.get("vcs") or []
    rows.append(f"<div><b>{escape(_('Virtual clusters'))}</b></div>")
    if vcs:
        rows.append(
            '<ul class="ytung-overview-vcs">'
            + "".join(
                f"<li>{escape(str(vc.get('name', '')))}"
                + (f" — {escape(str(vc['description']))}" if vc.get("description") else "")
                + "</li>"
                for vc in vcs
            )
            + "</ul>"
        )
    else:
        rows.append(
            '<div class="ytung-overview-empty">'
            f"{escape(_('You are not a member of any virtual cluster yet'))}</div>"
        )
    return "\n".join(rows)


def render_error(status: int, message: str, _) -> str:
    """The error box shown instead of the overview."""
    return error_box(
        "ytung-overview-error", status, message, _("Could not load your platform profile")
    )


class Overview(PlatformWidget):
    """The current user on the Ytung platform, with a refresh button.

    ``client`` is a :class:`ytung_service.client.PlatformClient` (default: one from the
    environment); ``lang`` is ``"en"`` or ``"zh_CN"`` (default from ``$YTUNG_LANG`` …).
    ``me`` holds the last answer of the service, ``error`` the last error message.
    """

    me = Dict(allow_none=True, default_value=None, help="The service's /api/v1/me document.")

    def __init__(self, client=None, lang: str | None = None, load: bool = True, **kwargs):
        super().__init__(client=client, lang=lang, **kwargs)
        self.add_class("ytung-overview")
        self._title = widgets.HTML()
        self._body = widgets.HTML()
        self._refresh = widgets.Button(icon="refresh")
        self._refresh.on_click(lambda _button: self.refresh())
        self.children = [self._title, self._body, self._refresh]
        self._render()
        if load:
            self.refresh()

    def refresh(self) -> None:
        """Fetch ``/api/v1/me`` again; an error is shown in the widget."""
        self._body.value = f"<i>{escape(self._('Loading…'))}</i>"
        self._refresh.disabled = True
        try:
            self.me = self._call("me")
        finally:
            self._refresh.disabled = False
        self._render()

    def _render(self) -> None:
        _ = self._
        self._title.value = f"<h3>{escape(_('Ytung overview'))}</h3>"
        self._refresh.description = _("Refresh")
        self._refresh.tooltip = _("Load your profile again")
        if self.error:
            self._body.value = render_error(self.error_status, self.error, _)
        elif self.me is None:
            self._body.value = f"<i>{escape(_('Loading…'))}</i>"
        else:
            self._body.value = render_overview(self.me, _)

    def __repr__(self) -> str:
        name = (self.me or {}).get("name", "?")
        return f"<Overview user={name!r} lang={self.lang!r}>"
