"""``PlatformWidget``: what every Ytung notebook widget shares.

The language (``lang``, default from ``$YTUNG_LANG`` …, re-rendering when it changes), the
platform client (injected for tests, else one from the environment), and calls whose errors are
kept in ``error`` / ``error_status`` and shown, never raised from a button.
"""

from __future__ import annotations

from html import escape

import ipywidgets as widgets
from traitlets import Int, Unicode, default, observe

from .i18n import default_language, gettext


def error_box(css_class: str, status: int, message: str, title: str = "") -> str:
    """The red box a widget shows above its content when the last call failed."""
    detail = f"{status}: {message}" if status else message
    head = f"<b>{escape(title)}</b><br>" if title else ""
    return (
        f'<div class="{css_class}" style="color: var(--jp-error-color1, #c00)">'
        f"{head}{escape(detail)}</div>"
    )


class PlatformWidget(widgets.VBox):
    """Base of the Ytung widgets; subclasses build their children and implement ``_render``."""

    lang = Unicode(help="Language of the widget: 'en' or 'zh_CN'.")
    error = Unicode("", help="The last error's message, empty when the last call worked.")
    error_status = Int(0, help="The HTTP status of the last error (0: no answer at all).")

    def __init__(self, client=None, lang: str | None = None, **kwargs):
        if lang is not None:
            kwargs["lang"] = lang
        super().__init__(**kwargs)
        self._client = client
        self._ = gettext(self.lang)

    @default("lang")
    def _default_lang(self):
        return default_language()

    @observe("lang")
    def _lang_changed(self, change):
        self._ = gettext(change["new"])
        if hasattr(self, "_body"):
            self._render()

    def client(self):
        from ytung_service.client import PlatformClient

        return self._client if self._client is not None else PlatformClient()

    def _call(self, operation: str, *args, **kwargs):
        """Run a client operation; on failure keep the error (shown by ``_render``), return None."""
        from ytung_service.client import PlatformError, ServiceUnreachable

        try:
            result = getattr(self.client(), operation)(*args, **kwargs)
        except ServiceUnreachable as e:
            self.error_status = 503
            self.error = self._("The Ytung service is unreachable: {error}", error=e.reason)
        except PlatformError as e:
            self.error_status, self.error = e.status, e.message
        except Exception as e:  # bad JSON, anything else: still shown, not raised
            self.error_status, self.error = 0, f"{type(e).__name__}: {e}"
        else:
            self.error_status, self.error = 0, ""
            return result
        return None

    def _render(self) -> None:  # pragma: no cover - every subclass has its own
        raise NotImplementedError
