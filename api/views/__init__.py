"""Every capability over HTTP, one module per domain, all under ``/api``."""

from fastapi import APIRouter

from rxtrace.api.views import audit, auth, cases, geo, leads, loads, resolve, scans, users

__all__ = ["router"]

router = APIRouter(prefix="/api")
for module in (auth, resolve, cases, leads, geo, scans, loads, audit, users):
    router.include_router(module.router)
