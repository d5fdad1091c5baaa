"""Logins: tokens and cookies, throttling, logout, disabled users, expiry, CSRF."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from rxtrace.trace.accounts import disable_user, open_session, set_password
from rxtrace.trace.accounts.service import authenticate
from rxtrace.trace.errors import AuthenticationError, TooManyAttemptsError

from .serverkit import PASSWORD, Server


def _login(server: Server, name: str, password: str = PASSWORD, address: str = "testclient") -> int:
    client = server.client()
    return int(client.post("/api/auth/login", data={"username": name, "password": password}).status_code)


def test_login_answers_a_bearer_token_and_sets_a_strict_httponly_cookie(server: Server) -> None:
    client = server.client()
    answer = client.post("/api/auth/login", data={"username": "inv", "password": PASSWORD})
    assert answer.status_code == 200
    body = answer.json()
    assert {"access_token", "token_type", "expires_at"} <= body.keys()
    assert body["token_type"] == "bearer"
    expires = datetime.fromisoformat(body["expires_at"]).replace(tzinfo=None)
    assert timedelta(hours=7.9) < expires - datetime.now() <= timedelta(hours=8)
    cookies = [v for k, v in answer.headers.multi_items() if k == "set-cookie"]
    session_cookie = next(c for c in cookies if c.startswith("rxtrace_session="))
    assert "HttpOnly" in session_cookie and "SameSite=strict" in session_cookie
    assert body["access_token"] in session_cookie
    # Both ways in work: the cookie (pages) and the bearer token (programs).
    assert client.get("/api/auth/me").json()["user"] == "inv"
    bare = server.client()
    assert (
        bare.get("/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}).status_code
        == 200
    )


def test_nothing_but_health_is_open_without_a_session(server: Server) -> None:
    client = server.client()
    assert client.get("/api/health").status_code == 200
    for path in (
        "/api/cases",
        "/api/cases/K1",
        "/api/resolve?code=x",
        "/api/leads",
        "/api/audit",
        "/api/loads",
    ):
        answer = client.get(path)
        assert answer.status_code == 401, path
        assert answer.headers["WWW-Authenticate"] == "Bearer"
    # The case that a nonsense token used to read whole.
    assert client.get("/api/cases/K1", headers={"Authorization": "Bearer nonsense"}).status_code == 401


def test_wrong_password_and_unknown_user_are_the_same_401(server: Server) -> None:
    client = server.client()
    wrong = client.post("/api/auth/login", data={"username": "inv", "password": "not the password"})
    unknown = client.post("/api/auth/login", data={"username": "nobody", "password": "not the password"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_five_failures_for_a_name_throttle_it_with_retry_after(server: Server) -> None:
    for _ in range(5):
        assert _login(server, "inv", "wrong password!") == 401
    client = server.client()
    throttled = client.post("/api/auth/login", data={"username": "inv", "password": PASSWORD})
    assert throttled.status_code == 429
    assert 0 < int(throttled.headers["Retry-After"]) <= 15 * 60


def test_failures_are_counted_per_address_too(server: Server) -> None:
    with server.app.state.context.session() as session:
        now = datetime.now()
        for i in range(5):
            with pytest.raises(AuthenticationError):
                authenticate(f"guess{i}", "x" * 12, address="10.0.0.9", session=session, now=now)
        session.commit()
        with pytest.raises(TooManyAttemptsError):
            authenticate("inv", PASSWORD, address="10.0.0.9", session=session, now=now)
        # Another address is not held back, and the window passes.
        assert authenticate("inv", PASSWORD, address="10.0.0.8", session=session, now=now).name == "inv"
        later = now + timedelta(minutes=16)
        assert authenticate("inv", PASSWORD, address="10.0.0.9", session=session, now=later).name == "inv"


def test_logout_ends_the_session(server: Server) -> None:
    client = server.login("inv")
    assert client.post("/api/auth/logout").status_code == 200
    assert client.get("/api/cases").status_code == 401


def test_a_disabled_users_sessions_stop_at_once(server: Server) -> None:
    client = server.login("inv")
    assert client.get("/api/cases").status_code == 200
    with server.app.state.context.session() as session:
        disable_user("inv", session=session)
    assert client.get("/api/cases").status_code == 401
    assert _login(server, "inv") == 401


def test_a_new_password_ends_the_open_sessions(server: Server) -> None:
    client = server.login("inv")
    with server.app.state.context.session() as session:
        set_password("inv", "another long password", session=session)
    assert client.get("/api/cases").status_code == 401
    assert _login(server, "inv", "another long password") == 200


def test_an_expired_session_is_refused(server: Server) -> None:
    with server.app.state.context.session() as session:
        account = authenticate("inv", PASSWORD, address="t", session=session)
        old = open_session(
            account, hours=8, address="t", session=session, now=datetime.now() - timedelta(hours=9)
        )
    answer = server.client().get("/api/cases", headers={"Authorization": f"Bearer {old.token}"})
    assert answer.status_code == 401 and "ended" in answer.json()["detail"]


def test_cookie_requests_that_change_data_need_the_csrf_token(server: Server) -> None:
    client = server.client()
    login = client.post("/api/auth/login", data={"username": "inv", "password": PASSWORD}).json()
    forged = client.post("/api/resolve", json={"codes": [server.codes["hub"]]})
    assert forged.status_code == 403 and "X-CSRF-Token" in forged.json()["detail"]
    wrong = client.post("/api/resolve", json={"codes": [server.codes["hub"]]}, headers={"X-CSRF-Token": "x"})
    assert wrong.status_code == 403
    ok = client.post(
        "/api/resolve", json={"codes": [server.codes["hub"]]}, headers={"X-CSRF-Token": login["csrf_token"]}
    )
    assert ok.status_code == 200
    # A bearer request carries no ambient credential: no CSRF token needed.
    bearer = server.login("inv")
    assert bearer.post("/api/resolve", json={"codes": [server.codes["hub"]]}).status_code == 200
