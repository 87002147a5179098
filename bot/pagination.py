"""Lists served a page at a time: a full page says where the next one is, as a `Link`
header (RFC 8288), so that a client reading "every" row knows it has not got them all."""

from typing import Annotated

from fastapi import Query, Request, Response

# Databases take 64-bit offsets; no table here will hold 2**31 rows.
MAX_OFFSET = 2**31 - 1
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="rows to skip, newest first")]


def link_next(request: Request, response: Response, *, offset: int, limit: int) -> None:
    """Point to the page after this one (a relative reference: right behind any proxy);
    past the largest offset there is none to point to."""
    if offset + limit > MAX_OFFSET:
        return
    following = request.url.include_query_params(offset=offset + limit)
    response.headers["Link"] = f'<{following.path}?{following.query}>; rel="next"'
