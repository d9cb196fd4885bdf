"""The one exception the domain raises for a refusal a user can act on."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """``status`` (400/403/404/409) and an English message id with ``{params}``.

    Handlers turn it into an HTTP error translated to the request's language.
    """

    def __init__(self, status: int, message: str, **params: Any):
        super().__init__(message.format(**params) if params else message)
        self.status = status
        self.message = message
        self.params = params
        #: more JSON for the error answer (e.g. the workloads blocking a VC edit)
        self.extra: dict[str, Any] = {}
