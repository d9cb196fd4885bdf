"""Platform permissions, the preset roles (SPEC A5) and the decorator that checks them.

A role is a named set of permissions. The preset roles cannot be deleted:

- ``System Admin``: everything, and hub admin too
- ``User``: the platform (workloads, data, models) and annotation
- ``Annotation person``: annotation only
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from tornado import web

from .i18n import N_

#: manage the platform: VCs, users, groups, roles, all tasks
ADMIN = "platform:admin"
#: use the platform: dev environments, training, datasets, models, inference
USE = "platform:use"
#: label data in annotation projects
ANNOTATE = "annotation:use"

ALL_PERMISSIONS = (ADMIN, USE, ANNOTATE)

SYSTEM_ADMIN = N_("System Admin")
USER = N_("User")
ANNOTATION_PERSON = N_("Annotation person")

PRESET_ROLES: dict[str, tuple[str, list[str]]] = {
    SYSTEM_ADMIN: (N_("Full control of the platform"), [ADMIN, USE, ANNOTATE]),
    USER: (N_("Develop, train, evaluate and serve models"), [USE, ANNOTATE]),
    ANNOTATION_PERSON: (N_("Label data in annotation projects"), [ANNOTATE]),
}

#: the preset administrator account (SPEC A2): cannot be deleted or have its role changed
ADMIN_USERNAME = "admin"


def requires(*permissions: str) -> Callable:
    """Decorate a handler verb: 401 without a user, 403 without every one of ``permissions``.

    The handler provides ``hub_model`` (the caller, set in ``prepare``),
    ``platform_permissions`` and ``t`` (the request's translator) for the message.
    """

    def decorator(method: Callable) -> Callable:
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            if self.hub_model is None:
                raise web.HTTPError(401, self.t("Authentication required"))
            missing = [p for p in permissions if p not in self.platform_permissions]
            if missing:
                raise web.HTTPError(
                    403,
                    self.t(
                        "You lack the permission {permission} for this action",
                        permission=", ".join(missing),
                    ),
                )
            return method(self, *args, **kwargs)

        wrapper.__ytung_permissions__ = permissions  # for the OpenAPI document
        return wrapper

    return decorator
