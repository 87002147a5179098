"""FastAPI dependencies shared by the views."""

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel import Session

from bot.auth import require_bearer
from bot.config import Settings
from bot.hubs import Registry


def get_settings(request: Request) -> Settings:
    """The app's settings."""
    settings: Settings = request.app.state.settings
    return settings


def get_registry(request: Request) -> Registry:
    """The loaded hub registry."""
    registry: Registry = request.app.state.registry
    return registry


def get_read_session(request: Request) -> Iterator[Session]:
    """A session for reads: it takes no write lock on SQLite."""
    with Session(request.app.state.reader) as session:
        yield session


def require_api_token(request: Request) -> None:
    """401 unless the request carries API_TOKEN."""
    require_bearer(request, get_settings(request).api_token, "the API (API_TOKEN)")


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
ReadSessionDep = Annotated[Session, Depends(get_read_session)]
ApiAuth = Depends(require_api_token)
