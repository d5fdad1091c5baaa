"""Request-scoped wiring: the settings and a database session per request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from rxtrace.api.config import Settings
from rxtrace.api.context import AppContext

__all__ = ["ContextDep", "SessionDep", "SettingsDep"]


# The cheap dependencies are coroutines: FastAPI runs a plain function on its thread pool,
# a hop that cost more than the work here under load (bench/api_bench.py).
async def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


async def get_settings(context: Annotated[AppContext, Depends(get_context)]) -> Settings:
    return context.settings


def get_session(context: Annotated[AppContext, Depends(get_context)]) -> Iterator[Session]:
    with context.session() as session:
        yield session


ContextDep = Annotated[AppContext, Depends(get_context)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
