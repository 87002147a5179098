"""Reading a request to `/slack/events`: Slack's signature, then the body as Slack means it.

Both happen before slack-bolt sees the request: bolt logs every unsigned body, and it takes
any form body holding the word `payload` for an interactive payload (so a slash command whose
text says "payload" went unhandled).
"""

import hashlib
import hmac
import re
from typing import Any
from urllib.parse import parse_qsl

from fastapi import HTTPException
from pydantic_core import from_json

from bot.validation import has_nul

# Slack's replay window.
MAX_AGE_SECONDS = 5 * 60
# Slack sends a handful of fields; a form of thousands is not from Slack.
MAX_FORM_FIELDS = 100
# Slack's user, channel and team ids are about 11 characters; the columns keeping them are 40.
MAX_ID = 40
ID_PATHS = (
    ("user_id",),
    ("channel_id",),
    ("team_id",),
    ("user", "id"),
    ("channel", "id"),
    ("team", "id"),
    ("container", "channel_id"),
    ("event", "user"),
    ("event", "item_user"),
    ("event", "channel_id"),
    ("event", "item", "channel"),
)
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


def signature_ok(
    body: bytes, timestamp: str | None, signature: str | None, secret: str, now: float
) -> bool:
    """Whether `signature` is Slack's v0 HMAC of `body` at a `timestamp` near `now`."""
    if not secret or not timestamp or not signature:
        return False
    # A strict match: int() would also take " 12", "1_2" and non-ASCII digits.
    if not _TIMESTAMP.fullmatch(timestamp) or abs(now - int(timestamp)) > MAX_AGE_SECONDS:
        return False
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    # Header values arrive as latin-1 text; compare bytes so non-ASCII cannot raise.
    return hmac.compare_digest(expected.encode(), signature.encode("latin-1", "replace"))


def parse_body(body: bytes, content_type: str | None) -> dict[str, Any]:
    """The request as a dict: an Events API JSON body, a slash command's form, or the JSON of
    an interactive form's single `payload` field; 400 for anything else."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(400, detail="body is not UTF-8") from None
    media_type = (content_type or "").partition(";")[0].strip().lower()
    if media_type == "application/json":
        parsed = _json_object(text, "body")
    else:
        form = _form(text)
        # Decided by the form's fields, never by words in their values.
        if "command" not in form and set(form) == {"payload"}:
            parsed = _json_object(form["payload"], "payload")
        else:
            parsed = dict(form)
    if has_nul(parsed):
        # PostgreSQL cannot store NUL in text, and Slack never sends one.
        raise HTTPException(400, detail="strings must not contain NUL characters")
    if not _ids_fit(parsed):
        raise HTTPException(400, detail=f"Slack ids are at most {MAX_ID} characters")
    return parsed


def _ids_fit(parsed: dict[str, Any]) -> bool:
    for path in ID_PATHS:
        value: Any = parsed
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str) and len(value) > MAX_ID:
            return False
    return True


def _form(text: str) -> dict[str, str]:
    try:
        pairs = parse_qsl(
            text, keep_blank_values=True, errors="strict", max_num_fields=MAX_FORM_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, detail="body is not a form Slack would send") from None
    return dict(pairs)


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        # pydantic-core's parser stops at 200 levels of nesting with a ValueError, where
        # json.loads would hit Python's recursion limit.
        value = from_json(text)
    except ValueError as exc:
        raise HTTPException(400, detail=f"{what} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise HTTPException(400, detail=f"{what} is not a JSON object")
    return value
