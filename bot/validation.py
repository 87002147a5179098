"""Reading webhook bodies: 400 for what is not JSON, 422 naming each problem of shape."""

from typing import Any, TypeVar

from fastapi import HTTPException
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M], body: bytes) -> M:
    """Validate a raw JSON body against `model`."""
    try:
        parsed = model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise HTTPException(400, detail=f"body is not valid JSON: {errors[0]['msg']}") from None
        raise HTTPException(422, detail=errors) from None
    # A raw NUL is invalid JSON, so one can only arrive escaped: look closer only then, and
    # only at what is kept (`\\u0000`, an escaped backslash, is no NUL).
    if b"\\u0000" in body and has_nul(parsed.model_dump()):
        # PostgreSQL cannot store NUL in text; refuse it here rather than fail at commit.
        raise HTTPException(422, detail="strings must not contain NUL characters (\\u0000)")
    return parsed


def has_nul(value: object) -> bool:
    """Whether any string in a tree of dicts and lists (keys too) holds a NUL character."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    return False


def request_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` declaring `model` as the JSON body of a view that reads the raw body."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inline(schema, defs)}},
        }
    }


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    # Pydantic points at "#/$defs/<Model>", which means nothing inside an OpenAPI document;
    # these models are not recursive, so each reference is replaced by what it names.
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node
