"""Who may see a community's status pages: its token, or nobody's for a public community."""

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Query, Request, status

from bot.auth import bearer_token
from bot.deps import RegistryDep
from bot.hubs.schema import Community


@dataclass(frozen=True, slots=True)
class Viewer:
    """Someone allowed to see `community`'s pages.

    `link_token` is the token to carry in links to the community's other pages: only one that
    came in the query string (`?token=`), which is how a phone user clicks through; a token
    sent in a header is never written into a page."""

    community: Community
    link_token: str | None = None


def token_matches(token: str, token_sha256: str) -> bool:
    """Whether `token` hashes to `token_sha256`, compared in constant time."""
    # A query string may hold anything, lone surrogates included: hash it as it came.
    digest = hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()
    return hmac.compare_digest(digest, token_sha256.lower())


def admit(community: Community, *, bearer: str | None, query: str | None) -> Viewer:
    """The viewer a request with these tokens is; 401 if a private community's token is not
    among them (or the community has none: then its pages open to nobody)."""
    if community.visibility == "public":
        return Viewer(community)
    expected = community.token_sha256
    if expected:
        if query is not None and token_matches(query, expected):
            return Viewer(community, link_token=query)
        if bearer is not None and token_matches(bearer, expected):
            return Viewer(community)
    detail = (
        f"missing or wrong token for the status page of {community.id}"
        if expected
        else f"the status page of {community.id} has no token configured, so it is closed"
    )
    raise HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


def viewer(
    community: str,
    request: Request,
    registry: RegistryDep,
    token: Annotated[
        str | None,
        Query(
            description="the community's token, for links and feed readers; "
            "`Authorization: Bearer` works too"
        ),
    ] = None,
) -> Viewer:
    """The dependency: 404 for an unknown community, 401 without its token."""
    found = registry.communities.get(community)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such status page")
    return admit(found, bearer=bearer_token(request.headers.get("authorization")), query=token)


ViewerDep = Annotated[Viewer, Depends(viewer)]
