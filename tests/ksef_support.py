"""The KSeF contract as the tests read it: the vendored open-api.json, its schemas as validators (OpenAPI 3.0,
`nullable` included, by openapi-schema-validator), its own examples, and which template a concrete path is."""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from openapi_schema_validator import OAS30Validator

SPEC_PATH = Path(__file__).resolve().parent.parent / "domain" / "ksef" / "spec" / "open-api.json"
SPEC: dict[str, Any] = json.loads(SPEC_PATH.read_text("utf-8"))


def operation(path: str, method: str) -> dict[str, Any]:
    op: dict[str, Any] = SPEC["paths"][path][method.lower()]
    return op


def schema_ref(schema: dict[str, Any]) -> str | None:
    """The component a request or response schema names (directly, through allOf, or as array items)."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    for part in schema.get("allOf", []):
        if "$ref" in part:
            return str(part["$ref"]).rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        return schema_ref(schema["items"])
    return None


@cache
def validator(schema: str | None = None, *, inline: str | None = None) -> OAS30Validator:
    """A validator of one component schema (`schema`), or of an inline JSON schema text with the contract's
    components beside it."""
    body = json.loads(inline) if inline else {"$ref": f"#/components/schemas/{schema}"}
    return OAS30Validator({**body, "components": SPEC["components"]})


def errors(instance: Any, schema: str) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(schema).iter_errors(instance)]


def response_errors(path: str, method: str, status: int, instance: Any, content_type: str) -> list[str]:
    """What is wrong with `instance` as the contract's answer `status` of `method path`."""
    responses = operation(path, method)["responses"]
    if str(status) not in responses:
        return [f"{method} {path} has no response {status} in the contract (it has {', '.join(responses)})"]
    content = responses[str(status)].get("content", {})
    if content_type not in content:
        return [f"{method} {path} {status} is not {content_type} in the contract (it is {', '.join(content)})"]
    schema = content[content_type]["schema"]
    v = validator(inline=json.dumps(schema))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(instance)]


def example(path: str, method: str, status: int, content_type: str = "application/json") -> Any:
    media = operation(path, method)["responses"][str(status)]["content"][content_type]
    if "example" in media:
        return media["example"]
    return next(iter(media["examples"].values()))["value"]


_TEMPLATES = [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", p) + "$"), p) for p in SPEC["paths"]]


def template_of(path: str) -> str:
    """The contract's template for a concrete path (a literal segment wins over a parameter)."""
    found = [t for rx, t in _TEMPLATES if rx.match(path)]
    if not found:
        raise KeyError(f"{path} is no path of the contract")
    return str(min(found, key=lambda t: t.count("{")))
