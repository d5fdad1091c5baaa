"""The web application, built by :func:`create_app` from one validated configuration."""

from __future__ import annotations

from fastapi import FastAPI

from rxtrace.api.config import Settings
from rxtrace.api.context import AppContext
from rxtrace.api.errors import add_exception_handlers
from rxtrace.api.views import router

__all__ = ["create_app"]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    # The interactive docs load their scripts from a CDN; on an isolated network they cannot.
    app = FastAPI(title="rxtrace", docs_url=None, redoc_url=None)
    app.state.context = AppContext(settings)
    add_exception_handlers(app)
    app.include_router(router)
    return app
