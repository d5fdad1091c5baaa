"""The web application, built by :func:`create_app` from one validated configuration."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from rxtrace.api.config import Settings
from rxtrace.api.context import AppContext
from rxtrace.api.errors import add_exception_handlers
from rxtrace.api.security import BodyLimit, SecurityHeaders
from rxtrace.api.views import router
from rxtrace.api.web import install_pages

__all__ = ["HTTPS_VARIABLE", "app_from_environment", "create_app"]

UPLOAD_PATHS = ("/api/loads", "/api/scans")
# Set by ``rxtrace serve --workers N`` for its workers when it serves HTTPS.
HTTPS_VARIABLE = "RXTRACE_SERVE_HTTPS"


def app_from_environment() -> FastAPI:
    """The application as the environment (``RXTRACE_*``) configures it: what each worker
    process of ``rxtrace serve --workers N`` builds for itself."""
    return create_app(Settings(), https=os.environ.get(HTTPS_VARIABLE) == "1")


def create_app(settings: Settings | None = None, *, https: bool = False) -> FastAPI:
    settings = settings or Settings()
    # The interactive docs load their scripts from a CDN; on an isolated network they cannot.
    # The OpenAPI document itself is served at /api/openapi.json (behind no login: it holds no data).
    context = AppContext(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        # The audit events still waiting are written before the connections close.
        await run_in_threadpool(context.close)

    app = FastAPI(
        lifespan=lifespan,
        title="rxtrace",
        summary="Seized drug boxes to the insurance sales that paid for them.",
        version="1",
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.context = context
    add_exception_handlers(app)
    app.include_router(router)
    install_pages(app)
    # Outermost last: the headers go on every answer, the 413 included.
    app.add_middleware(
        BodyLimit,
        body_bytes=settings.max_body_kb << 10,
        upload_bytes=(settings.max_upload_mb << 20) + (1 << 20),  # the multipart framing
        upload_paths=UPLOAD_PATHS,
    )
    app.add_middleware(SecurityHeaders, hsts=https)
    return app
