"""Bearer-token checks for the API and the Alertmanager webhook."""

import hmac

from fastapi import HTTPException, Request, status
from pydantic import SecretStr


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header's value, if any."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def require_bearer(request: Request, expected: SecretStr, what: str) -> None:
    """401 unless the request carries `expected`; an empty `expected` refuses everyone."""
    check_bearer(request.headers.get("authorization"), expected, what)


def check_bearer(authorization: str | None, expected: SecretStr, what: str) -> None:
    """401 unless the `Authorization` header's value carries `expected`."""
    secret = expected.get_secret_value()
    token = bearer_token(authorization)
    if not secret or token is None or not hmac.compare_digest(token.encode(), secret.encode()):
        detail = (
            f"{what} is not configured on this server"
            if not secret
            else f"missing or wrong bearer token for {what}"
        )
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
        )
