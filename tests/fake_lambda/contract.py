"""Validate HTTP exchanges against the Lambda Cloud OpenAPI document (3.1, JSON Schema 2020-12).

Validation is stricter than the document in one way: every object schema that lists
``properties`` and says nothing about ``additionalProperties`` is closed. A misspelt request
field (``region`` for ``region_name``) or an undocumented response field then fails instead
of slipping through.
"""
from __future__ import annotations

import base64
import copy
import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCUMENT = Path(__file__).resolve().parents[1] / "fixtures" / "lambda-cloud-openapi-1.10.0.json"
URI = "urn:lambda-cloud-openapi"

# The document's prose defines this envelope for every failure; statuses the document does
# not list for an operation (429 from the rate limiter) are checked against it.
ERROR_ENVELOPE = {
    "type": "object",
    "additionalProperties": False,
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "additionalProperties": False,
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "suggestion": {"type": "string"},
            },
        }
    },
}


def close_objects(node: Any) -> Any:
    """Return a copy in which object schemas with ``properties`` reject unknown members."""
    if isinstance(node, list):
        return [close_objects(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: close_objects(value) for key, value in node.items()}
    props = node.get("properties")
    if isinstance(props, dict) and "additionalProperties" not in node and all(
            isinstance(v, dict) for v in props.values()):
        out["additionalProperties"] = False
    return out


def pointer(*parts: str) -> str:
    """A JSON pointer fragment for the given reference tokens."""
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


@dataclass(frozen=True)
class Route:
    """One documented operation: its method, path template and matcher."""

    method: str
    template: str
    regex: "re.Pattern[str]"
    operation: Dict[str, Any]


class Contract:
    """The document, with helpers that list what is wrong with a request or a response."""

    def __init__(self, document: Mapping[str, Any]):
        self.document = close_objects(document)
        resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
        self.registry = Registry().with_resource(URI, resource)
        self.routes: List[Route] = []
        for template, item in self.document["paths"].items():
            regex = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(template)) + "$")
            for method, operation in item.items():
                if isinstance(operation, dict) and "responses" in operation:
                    self.routes.append(Route(method.upper(), template, regex, operation))

    def route(self, method: str, path: str) -> Optional[Route]:
        """The documented operation for a method and concrete path, or None."""
        for route in self.routes:
            if route.method == method and route.regex.match(path):
                return route
        return None

    def _errors(self, schema_ref: Dict[str, Any], instance: Any) -> List[str]:
        validator = Draft202012Validator(schema_ref, registry=self.registry)
        return sorted("%s: %s" % ("/".join(map(str, e.absolute_path)) or "<root>", e.message)
                      for e in validator.iter_errors(instance))

    @staticmethod
    def auth_ok(header: Optional[str], keys: "set[str]") -> Tuple[bool, bool]:
        """(header has a documented shape, key is valid) for an Authorization header."""
        if not header:
            return False, False
        scheme, _, value = header.partition(" ")
        if scheme == "Bearer":
            return True, value in keys
        if scheme == "Basic":
            try:
                decoded = base64.b64decode(value, validate=True).decode()
            except ValueError:
                decoded = value
            return True, decoded.rstrip(":") in keys or value in keys
        return False, False

    def request_errors(self, route: Route, query: Mapping[str, List[str]], body: Optional[bytes],
                       content_type: Optional[str]) -> List[str]:
        """Everything about a request that the document does not allow."""
        errors: List[str] = []
        op = route.operation
        params = {p["name"]: p for p in op.get("parameters", []) if p.get("in") == "query"}
        for name in query:
            if name not in params:
                errors.append("query parameter %r is not documented" % name)
        request_body = op.get("requestBody")
        if request_body is None:
            if body:
                errors.append("%s %s takes no request body" % (route.method, route.template))
            return errors
        if not body:
            if request_body.get("required"):
                errors.append("request body is required")
            return errors
        if (content_type or "").split(";")[0].strip() != "application/json":
            errors.append("Content-Type must be application/json, got %r" % content_type)
        try:
            payload = json.loads(body)
        except ValueError as err:
            return errors + ["request body is not JSON: %s" % err]
        ref = {"$ref": URI + pointer("paths", route.template, route.method.lower(), "requestBody",
                                     "content", "application/json", "schema")}
        return errors + ["request " + e for e in self._errors(ref, payload)]

    def response_errors(self, route: Optional[Route], status: int, payload: Any) -> List[str]:
        """Everything about a response body that the document does not allow."""
        if route is None or str(status) not in route.operation["responses"]:
            return ["response " + e for e in self._errors(ERROR_ENVELOPE, payload)]
        ref = {"$ref": URI + pointer("paths", route.template, route.method.lower(), "responses",
                                     str(status), "content", "application/json", "schema")}
        return ["response %d " % status + e for e in self._errors(ref, payload)]

    def schema(self, name: str) -> Dict[str, Any]:
        """A component schema, for building fixtures."""
        return copy.deepcopy(self.document["components"]["schemas"][name])


@functools.lru_cache(maxsize=1)
def load_contract(path: str = str(DOCUMENT)) -> Contract:
    """The contract for the document shipped in tests/fixtures (parsed once per process)."""
    with open(path, encoding="utf-8") as handle:
        return Contract(json.load(handle))
