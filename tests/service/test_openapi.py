"""Every REST route is in the OpenAPI document, and every documented operation is routed."""

import re

from ytung_service import apihandlers
from ytung_service.apihandlers.openapi import openapi_document

VERBS = ("get", "post", "put", "patch", "delete")


def routed_operations() -> set[tuple[str, str]]:
    ops = set()
    for pattern, handler in apihandlers.default_handlers:
        path = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", pattern)
        assert path.startswith("/api/v1/"), pattern
        path = path[len("/api/v1") :]
        for verb in VERBS:
            # implemented by our code, not inherited from tornado's RequestHandler
            if any(
                verb in cls.__dict__
                for cls in handler.__mro__
                if cls.__module__.startswith("ytung_service")
            ):
                ops.add((path, verb))
    return ops


def documented_operations() -> set[tuple[str, str]]:
    doc = openapi_document()
    return {(path, verb) for path, item in doc["paths"].items() for verb in item if verb in VERBS}


def test_routes_and_document_agree():
    routed, documented = routed_operations(), documented_operations()
    assert routed - documented == set(), "routes missing from ytung_service/openapi.yaml"
    assert documented - routed == set(), "documented operations with no route"


def test_document_is_valid_openapi():
    from openapi_spec_validator import validate

    validate(openapi_document())
