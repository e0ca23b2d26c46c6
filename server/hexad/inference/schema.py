"""Model output that must be JSON: parse it and check it against the request's schema.

Both backends use this, so a caller sees the same ``extra["json_error"]`` wording whichever
model answered. The check covers the JSON Schema subset Hexad's prompts use (types,
properties, required, enum, items, min/max items, additionalProperties); it is a guard on
model output, not a general validator.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from hexad.inference.base import FinishReason


def parse_json(
    text: str, schema: Mapping[str, Any], finish: FinishReason, extra: dict[str, Any]
) -> Any:
    try:
        value = json.loads(text)
    except ValueError as error:
        why = {"length": "cut by max_tokens", "budget": "cut by the token budget"}.get(finish)
        extra["json_error"] = f"the output is not valid JSON ({error})" + (
            f", {why}" if why else ""
        )
        return None
    problems = schema_errors(value, schema)
    if problems:
        extra["json_error"] = "the output does not match the schema: " + "; ".join(problems[:5])
        return None
    return value


_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def schema_errors(value: Any, schema: Mapping[str, Any], where: str = "$") -> list[str]:
    """What in ``value`` breaks ``schema``: the common JSON Schema keywords (type, enum,
    const, properties, required, additionalProperties, items, min/maxItems, min/maxLength,
    minimum/maximum, anyOf/oneOf). Others ($ref, patterns, formats) are not checked."""
    if not isinstance(schema, Mapping):
        return []
    errors: list[str] = []
    expected = schema.get("type")
    if expected is not None:
        names = [expected] if isinstance(expected, str) else list(expected)
        if not any(_JSON_TYPES.get(name, lambda v: True)(value) for name in names):
            return [f"{where} is not of type {'/'.join(names)}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where} is not one of {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where} is not {schema['const']!r}")
    for key in ("anyOf", "oneOf"):
        if key in schema and all(schema_errors(value, sub, where) for sub in schema[key]):
            errors.append(f"{where} matches none of its {key} schemas")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        errors += [
            f"{where} lacks {name!r}" for name in schema.get("required", ()) if name not in value
        ]
        for name, item in value.items():
            if name in properties:
                errors += schema_errors(item, properties[name], f"{where}.{name}")
            elif schema.get("additionalProperties") is False:
                errors.append(f"{where} has the unexpected property {name!r}")
            elif isinstance(schema.get("additionalProperties"), Mapping):
                errors += schema_errors(item, schema["additionalProperties"], f"{where}.{name}")
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append(f"{where} has fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{where} has more than {schema['maxItems']} items")
        if isinstance(schema.get("items"), Mapping):
            for i, item in enumerate(value):
                errors += schema_errors(item, schema["items"], f"{where}[{i}]")
    if isinstance(value, str):
        if "minLength" in schema and len(value) < schema["minLength"]:
            errors.append(f"{where} is shorter than {schema['minLength']}")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{where} is longer than {schema['maxLength']}")
    if _JSON_TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where} is below {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where} is above {schema['maximum']}")
    return errors
