"""Browser pages of the service (hub OAuth): the landing page and the admin area."""

from . import admin, devenvs, home

default_handlers = [*home.default_handlers, *admin.default_handlers, *devenvs.default_handlers]
