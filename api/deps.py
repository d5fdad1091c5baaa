"""Request-scoped wiring: the settings and a database session per request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from rxtrace.api.config import Settings
from rxtrace.api.context import AppContext
from rxtrace.trace.store.db import end_session

__all__ = ["ContextDep", "SessionDep", "SettingsDep"]


# The dependencies are coroutines that read the request themselves: FastAPI runs a plain
# function on its thread pool, a hop that cost more than the work here, and every
# sub-dependency is one more node solved per request, again under each dependency that
# shares it (bench/api_bench.py).
async def get_context(request: Request) -> AppContext:
    context: AppContext = request.app.state.context
    return context


async def get_settings(request: Request) -> Settings:
    context: AppContext = request.app.state.context
    return context.settings


async def get_session(request: Request) -> AsyncIterator[Session]:
    """A session committed when the route succeeds and rolled back when it fails. Making one
    touches no database (it connects at its first statement), so only its end may need the
    thread pool, and only while a transaction is open: a route that committed its own work
    (an audited answer does) leaves nothing to wait for."""
    context: AppContext = request.app.state.context
    session = context.new_session()
    try:
        yield session
    except BaseException:
        await _ended(session, failed=True)
        raise
    await _ended(session, failed=False)


async def _ended(session: Session, *, failed: bool) -> None:
    if session.in_transaction() or session.new or session.dirty or session.deleted:
        await run_in_threadpool(end_session, session, failed=failed)
    else:  # nothing to send to the database: no thread needed
        end_session(session, failed=failed)


ContextDep = Annotated[AppContext, Depends(get_context)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session)]
