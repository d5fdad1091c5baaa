"""The pages without a browser: every word in both languages, logins and roles at the door,
the security headers, and the browser libraries served from rxtrace itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rxtrace.api.app import create_app
from rxtrace.api.config import Settings
from rxtrace.api.web import PAGES, VENDOR_DIR
from rxtrace.api.web.i18n import MESSAGES, messages
from rxtrace.api.web.views import _safe_next
from rxtrace.trace.accounts import Role, add_user

WEB = Path(__file__).resolve().parents[2] / "api" / "web"
PASSWORD = "correct horse battery"


def _keys_used() -> set[str]:
    used: set[str] = set()
    for template in (WEB / "templates").glob("*.html"):
        used |= set(re.findall(r"""t\[["']([\w.]+)["']\]""", template.read_text(encoding="utf-8")))
    for script in (WEB / "static" / "js").glob("*.js"):
        used |= set(re.findall(r"""\bt\(["']([\w.]+)["']\)""", script.read_text(encoding="utf-8")))
    return used


def test_every_word_on_a_page_is_in_both_languages() -> None:
    used = _keys_used()
    assert len(used) > 80
    for language in ("zh-CN", "en"):
        table = messages(language)
        missing = sorted(k for k in used if k not in table)
        assert not missing, (language, missing)
        assert all(value.strip() for value in table.values())
    assert all(zh != en or zh.isascii() for zh, en in MESSAGES.values() if zh == en)
    # Each box status is explained in Chinese too, not only in the dossier's English.
    zh, en = messages("zh-CN"), messages("en")
    statuses = [k for k in zh if k.startswith("status_help.")]
    assert len(statuses) == 6 and all(zh[k] != en[k] for k in statuses)


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example", "/\\evil", "", None])
def test_a_login_never_sends_the_user_elsewhere(target: str | None) -> None:
    assert _safe_next(target) == "/"


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    settings = Settings(data_dir=tmp_path, secret_key="k" * 40)
    app = create_app(settings)
    with app.state.context.session() as session:
        add_user("inv", PASSWORD, Role.investigator, session=session)
        add_user("adm", PASSWORD, Role.admin, session=session)
        session.commit()
    return TestClient(app)


def _login(client: TestClient, name: str) -> None:
    answer = client.post("/api/auth/login", data={"username": name, "password": PASSWORD})
    assert answer.status_code == 200, answer.text


def test_every_page_sends_a_stranger_to_the_login(client: TestClient) -> None:
    for page in PAGES:
        path = page.path.replace("{case_id}", "K1")
        answer = client.get(path, follow_redirects=False)
        assert answer.status_code == 303, path
        assert answer.headers["location"].startswith("/login?next=")
    login = client.get("/login")
    assert login.status_code == 200 and 'name="username"' in login.text and 'name="password"' in login.text
    assert "default-src 'none'" in login.headers["content-security-policy"]
    assert "<script>" not in login.text and " style=" not in login.text  # nothing inline


def test_a_role_sees_its_pages_and_is_refused_the_others(client: TestClient) -> None:
    _login(client, "inv")
    home = client.get("/")
    assert home.status_code == 200 and 'lang="zh-CN"' in home.text
    assert 'href="/leads"' in home.text and 'href="/audit"' not in home.text
    refused = client.get("/audit")
    assert refused.status_code == 403 and "无权" in refused.text
    assert client.get("/admin/users").status_code == 403
    english = client.get("/lang/en?next=/leads", follow_redirects=True)
    assert english.status_code == 200 and 'lang="en"' in english.text and "Leads" in english.text


def test_an_admin_manages_users_through_the_api(client: TestClient) -> None:
    _login(client, "adm")
    csrf = client.cookies["rxtrace_csrf"]
    assert client.get("/admin/users").status_code == 200
    made = client.post(
        "/api/users",
        json={"name": "new1", "role": "investigator", "password": PASSWORD},
        headers={"X-CSRF-Token": csrf},
    )
    assert made.status_code == 201, made.text
    no_csrf = client.post("/api/users", json={"name": "new2", "role": "admin", "password": PASSWORD})
    assert no_csrf.status_code == 403
    gone = client.post("/api/users/new1/disable", headers={"X-CSRF-Token": csrf})
    assert gone.status_code == 200 and gone.json()["disabled"] is True
    names = {u["name"]: u for u in client.get("/api/users").json()["users"]}
    assert names["new1"]["disabled"] and not names["inv"]["disabled"]
    assert client.post("/api/users/nobody/disable", headers={"X-CSRF-Token": csrf}).status_code == 404


@pytest.mark.skipif(not (VENDOR_DIR / "VERSIONS").exists(), reason="scripts/web-assets has not run")
def test_the_browser_libraries_are_served_by_rxtrace(client: TestClient) -> None:
    for path in (
        "/static/vendor/leaflet/leaflet.js",
        "/static/vendor/cytoscape/cytoscape.min.js",
        "/static/vendor/zxing-wasm/reader.js",
        "/static/vendor/zxing-wasm/zxing_reader.wasm",
        "/static/js/common.js",
    ):
        answer = client.get(path)
        assert answer.status_code == 200 and len(answer.content) > 1000, path
    worker = client.get("/sw.js")
    assert worker.status_code == 200 and "javascript" in worker.headers["content-type"]
