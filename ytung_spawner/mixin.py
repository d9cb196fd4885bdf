"""``YtungSpawnerMixin``: what every Ytung spawner does before launching a workload.

- asks the platform service whether the user may start anything (a VC member, SPEC A1) and
  refuses with the service's reason otherwise — in the options form and in ``start()``;
- tells the workload where the service is (``YTUNG_SERVICE_URL``), so that the server
  extension and notebook kernels can reach it with the workload's own token.

Device admission and binding (issue "VCs, quotas and the scheduler") extend this class.
"""

from __future__ import annotations

import os

from jinja2 import Template
from tornado import web
from traitlets import Unicode, default
from traitlets.config import Configurable

from ytung_service.client import AsyncPlatformClient, PlatformError
from ytung_service.i18n import request_language, translator

NO_ACCESS_FORM = Template(
    """<div class="alert alert-warning" role="alert" id="ytung-no-access">
  <h2 class="h5">{{ title }}</h2>
  <p class="mb-0">{{ reason }}</p>
</div>"""
)


class YtungSpawnerMixin(Configurable):
    """Mix into a JupyterHub spawner before the spawner class (``class X(YtungSpawnerMixin, S)``).

    Its traits are configurable as ``c.YtungSpawnerMixin.*`` or on the concrete spawner.
    """

    ytung_service_url = Unicode(
        help="""Base URL of the Ytung service as reachable from the hub and the workloads.

        Example: ``c.YtungSpawnerMixin.ytung_service_url = "http://hub:10101/services/ytung/"``
        Default: ``$YTUNG_SERVICE_URL``.
        """,
    ).tag(config=True)

    @default("ytung_service_url")
    def _ytung_service_url_default(self):
        return os.environ.get("YTUNG_SERVICE_URL", "")

    ytung_service_token = Unicode(
        help="""A hub token the spawner uses to ask the service (the service's own token).

        Example: ``c.YtungSpawnerMixin.ytung_service_token = os.environ["YTUNG_SERVICE_TOKEN"]``
        Default: ``$YTUNG_SERVICE_TOKEN``.
        """,
    ).tag(config=True)

    @default("ytung_service_token")
    def _ytung_service_token_default(self):
        return os.environ.get("YTUNG_SERVICE_TOKEN", "")

    def ytung_client(self) -> AsyncPlatformClient:
        return AsyncPlatformClient(self.ytung_service_url, self.ytung_service_token, timeout=20)

    def _translate(self):
        handler = getattr(self, "handler", None)
        return translator(request_language(handler) if handler is not None else None)

    async def ytung_access(self) -> dict:
        """The service's answer to "may this user start workloads?" (fails closed)."""
        try:
            return await self.ytung_client().user_access(self.user.name)
        except PlatformError as e:
            self.log.error("Ytung service refused access check for %s: %s", self.user.name, e)
            raise web.HTTPError(
                503 if e.status in (0, 502, 503, 599) else 500,
                self._translate()("The Ytung service cannot be reached; try again shortly"),
            ) from None

    async def ytung_options_form(self, spawner=None) -> str:
        access = await self.ytung_access()
        if not access["allowed"]:
            _ = self._translate()
            return NO_ACCESS_FORM.render(
                title=_("Sorry, you have no access to this page yet"),
                reason=_(
                    "You have no access yet: ask an administrator to add you to a virtual cluster"
                ),
            )
        return ""

    async def get_options_form(self):
        # the service's verdict first; a configured form is shown only to users with access
        notice = await self.ytung_options_form()
        if notice:
            return notice
        return await super().get_options_form()

    async def start(self):
        access = await self.ytung_access()
        if not access["allowed"]:
            raise web.HTTPError(
                403,
                self._translate()(
                    "You have no access yet: ask an administrator to add you to a virtual cluster"
                ),
            )
        return await super().start()

    def get_env(self):
        env = super().get_env()
        if self.ytung_service_url:
            env["YTUNG_SERVICE_URL"] = self.ytung_service_url
        return env
