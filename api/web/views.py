"""The pages: a server-rendered shell per page, in the user's language, whose script then
reads and changes data through the JSON API alone (``/api/...``), under the same roles.

A page needs the session cookie: without one it sends the browser to ``/login``; a role that
lacks the page's permission gets a 403 page that says so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from rxtrace.api.auth import SESSION_COOKIE
from rxtrace.api.deps import SessionDep
from rxtrace.api.web.i18n import LANGUAGES, choose_language, messages
from rxtrace.trace.accounts import MATRIX, Account, Permission, session_for
from rxtrace.trace.errors import AuthenticationError

__all__ = ["LANG_COOKIE", "PAGES", "STATIC_DIR", "router"]

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
LANG_COOKIE = "rxtrace_lang"
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Page:
    path: str
    template: str
    title: str
    permission: Permission
    nav: bool = True


# The navigation, in order; a user sees only the pages their role may open.
PAGES: tuple[Page, ...] = (
    Page("/", "home.html", "nav.home", Permission.cases),
    Page("/scan", "scan.html", "nav.scan", Permission.scan),
    Page("/resolve", "resolve.html", "nav.resolve", Permission.resolve),
    Page("/map", "map.html", "nav.map", Permission.geo),
    Page("/leads", "leads.html", "nav.leads", Permission.leads_read),
    Page("/audit", "audit.html", "nav.audit", Permission.audit),
    Page("/admin/users", "users.html", "nav.users", Permission.users),
    Page("/loads", "loads.html", "nav.loads", Permission.loads),
    Page("/cases/{case_id}", "case.html", "case.title", Permission.cases, nav=False),
)
_BY_PATH = {page.path: page for page in PAGES}


def _language(request: Request) -> str:
    return choose_language(request.query_params.get("lang") or request.cookies.get(LANG_COOKIE))


def _safe_next(target: str | None) -> str:
    # Only a path on this server: "//host" or "https://host" would send the user elsewhere.
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _account(request: Request, session: SessionDep) -> Account | None:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return session_for(token, session=session)[0]
    except AuthenticationError:
        return None


def _render(
    request: Request,
    template: str,
    *,
    title: str,
    account: Account | None,
    params: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    language = _language(request)
    words = messages(language)
    allowed = MATRIX[account.role] if account else frozenset()
    nav = [
        {"path": p.path, "label": words[p.title], "current": p.template == template}
        for p in PAGES
        if p.nav and p.permission in allowed
    ]
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    page = {
        "lang": language,
        "t": words,
        "user": account.name if account else None,
        "role": account.role.value if account else None,
        "permissions": sorted(p.value for p in allowed),
        "params": params or {},
    }
    other = LANGUAGES[1 - LANGUAGES.index(language)]
    context = {
        "lang": language,
        "t": words,
        "title": words[title],
        "nav": nav,
        "account": account,
        "page": page,
        "script": template.removesuffix(".html"),
        "switch_href": f"/lang/{other}?next={quote(here, safe='')}",
    }
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def _page(request: Request, session: SessionDep, path: str, **params: Any) -> Response:
    page = _BY_PATH[path]
    account = _account(request, session)
    if account is None:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(here, safe='')}", status_code=303)
    allowed = MATRIX[account.role]
    if page.permission not in allowed:
        if page.path == "/":  # where a login lands: an admin starts on the first page theirs
            first = next((p.path for p in PAGES if p.nav and p.permission in allowed), None)
            if first:
                return RedirectResponse(first, status_code=303)
        return _render(request, "forbidden.html", title=page.title, account=account, status_code=403)
    return _render(request, page.template, title=page.title, account=account, params=params)


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    return _render(
        request, "login.html", title="login.title", account=None, params={"next": _safe_next(next)}
    )


@router.get("/lang/{language}")
def switch_language(language: str, next: str | None = None) -> Response:
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(LANG_COOKIE, choose_language(language), max_age=365 * 86400, samesite="strict")
    return response


@router.get("/scan")
def scan(
    request: Request, session: SessionDep, seizure: Annotated[str | None, Query(max_length=128)] = None
) -> Response:
    return _page(request, session, "/scan", seizure=seizure)


@router.get("/resolve")
def resolve(
    request: Request, session: SessionDep, codes: Annotated[str | None, Query(max_length=100_000)] = None
) -> Response:
    return _page(request, session, "/resolve", codes=codes)


@router.get("/cases/{case_id}")
def case(
    case_id: Annotated[str, PathParam(max_length=128)], request: Request, session: SessionDep
) -> Response:
    return _page(request, session, "/cases/{case_id}", case_id=case_id)


@router.get("/map")
def map_page(
    request: Request, session: SessionDep, case: Annotated[str | None, Query(max_length=128)] = None
) -> Response:
    return _page(request, session, "/map", case=case)


def _plain_page(path: str) -> Callable[[Request, Session], Response]:
    def show(request: Request, session: SessionDep) -> Response:
        return _page(request, session, path)

    return show


# The pages that take no parameter of their own; the others have their routes above.
for _path in ("/", "/leads", "/audit", "/admin/users", "/loads"):
    router.add_api_route(_path, _plain_page(_path), methods=["GET"])


@router.get("/sw.js")
def service_worker() -> Response:
    # At the root, so its scope covers every page; never cached, so an upgrade takes at once.
    return FileResponse(
        STATIC_DIR / "js" / "sw.js",
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache"},
    )
