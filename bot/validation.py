"""Reading webhook bodies: 400 for what is not JSON, 422 naming each problem of shape."""

from typing import TypeVar

from fastapi import HTTPException
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M], body: bytes) -> M:
    """Validate a raw JSON body against `model`."""
    if b"\\u0000" in body:
        # PostgreSQL cannot store NUL in text; refuse it here rather than fail at commit.
        raise HTTPException(422, detail="strings must not contain NUL characters (\\u0000)")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        if any(e["type"] == "json_invalid" for e in errors):
            raise HTTPException(400, detail=f"body is not valid JSON: {errors[0]['msg']}") from None
        raise HTTPException(422, detail=errors) from None
