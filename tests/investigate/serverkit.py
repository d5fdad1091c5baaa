"""Builders for the server tests: a server on a given database with case K1 and one user per role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from rxtrace.api.app import create_app
from rxtrace.api.config import Settings
from rxtrace.trace.accounts import add_user

from .builders import T0, World

PASSWORD = "correct horse battery"
ROLES = ("investigator", "supervisor", "admin")


@dataclass
class Server:
    app: FastAPI
    settings: Settings
    codes: dict[str, str]

    def client(self) -> TestClient:
        return TestClient(self.app, raise_server_exceptions=False)

    def login(self, name: str, password: str = PASSWORD) -> TestClient:
        """A client holding a bearer token of ``name``."""
        client = self.client()
        answer = client.post("/api/auth/login", data={"username": name, "password": password})
        assert answer.status_code == 200, answer.text
        client.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        client.cookies.clear()
        return client


def build_case(world: World) -> dict[str, str]:
    """Case K1: a rented card behind five boxes at one clinic, a resold box, an unsold one."""
    world.drug("8700001", "XK", 7, name="琥珀酸美托洛尔缓释片")
    world.institution("CLINIC", "clinic", name="浦东诊所")
    world.institution("PHARM", "pharmacy", name="徐汇药房")
    hub = [world.new_code("8700001") for _ in range(5)]
    for i, code in enumerate(hub):
        world.sale(
            inst="CLINIC", card="310000000051", code=code, med="XK", at=T0 + timedelta(days=i), dr="DOC1"
        )
    resold = world.new_code("8700001")
    world.sale(inst="PHARM", card="310000000077", code=resold, med="XK", at=T0)
    world.sale(
        inst="CLINIC", card="310000000051", code=resold, med="XK", at=T0 + timedelta(days=9), dr="DOC1"
    )
    unsold = world.new_code("8700001")
    world.seize("Z1", "K1", [*hub[:3], resold], at=T0 + timedelta(days=30))
    world.seize("Z2", "K1", [*hub[3:], unsold], at=T0 + timedelta(days=31))
    world.commit()
    return {"hub": hub[0], "resold": resold, "unsold": unsold}


def make_server(url: str, folder: Path, **overrides: object) -> Server:
    settings = Settings(data_dir=folder, database_url=url, secret_key="s" * 32, **overrides)  # type: ignore[arg-type]
    app = create_app(settings)
    with app.state.context.session() as session:
        codes = build_case(World(session))
        for role in ROLES:
            add_user(role[:3], PASSWORD, role, session=session)
    return Server(app, settings, codes)
