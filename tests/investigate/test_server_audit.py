"""The audit log: every read of a person's data recorded, nothing edited, nothing removed unseen."""

from __future__ import annotations

import dataclasses
import json
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from rxtrace.api import auth
from rxtrace.api.cli import app as cli
from rxtrace.trace.accounts import AuditWriter, Entry, events, postgres_batches, session_batches, verify
from rxtrace.trace.errors import RxtraceError
from rxtrace.trace.investigate.workflow import default_user
from rxtrace.trace.store.db import make_engine

from .serverkit import Server

CARD = "310000000051"

# Every kind of answer that shows a person: a card, a sale with its card, a card lead.
READS = [
    ("GET", "/api/resolve?code={hub}", None),
    ("POST", "/api/resolve", {"codes": ["{hub}"]}),
    ("GET", "/api/cases/K1", None),
    ("GET", "/api/seizures/Z1", None),
    ("GET", "/api/cases/K1/graph", None),
    ("GET", "/api/cases/K1/timeline", None),
    ("GET", "/api/leads?kind=card", None),
    ("GET", "/api/cases/K1/report?format=csv", None),
]


def _last(server: Server) -> dict[str, object]:
    with server.app.state.context.session() as session:
        return events(session=session, limit=1)[0].to_dict()


@pytest.mark.parametrize(("method", "path", "body"), READS)
def test_each_person_read_writes_an_event(
    sqlite_server: Server, method: str, path: str, body: object
) -> None:
    hub = sqlite_server.codes["hub"]
    client = sqlite_server.login("sup")
    target = path.format(hub=hub)
    payload = json.loads(json.dumps(body).replace("{hub}", hub)) if body else None
    assert client.request(method, target, json=payload).status_code == 200
    event = _last(sqlite_server)
    assert event["actor"] == "sup" and event["address"] == "testclient"
    assert event["action"] == f"{method} {target.split('?')[0]}"
    assert CARD in event["persons"], event  # type: ignore[operator]
    assert event["revealed"] is False and event["reason"] is None


def test_a_single_lead_read_is_audited(sqlite_server: Server) -> None:
    client = sqlite_server.login("inv")
    card_lead = next(
        lead for lead in client.get("/api/leads?kind=card&limit=0").json()["leads"] if lead["kind"] == "card"
    )
    client.get(f"/api/leads/{card_lead['lead_id']}")
    event = _last(sqlite_server)
    assert event["action"] == f"GET /api/leads/{card_lead['lead_id']}" and CARD in event["persons"]  # type: ignore[operator]


def test_a_reveal_is_recorded_with_its_reason(server: Server) -> None:
    reason = "interview of the card owner"
    server.login("sup").get(f"/api/cases/K1?reveal=true&reason={reason}")
    event = _last(server)
    assert event["revealed"] is True and event["reason"] == reason
    assert "reason" not in event["params"]  # type: ignore[operator]


def test_the_log_refuses_update_and_delete(server: Server) -> None:
    server.login("inv").get("/api/cases/K1")
    engine = server.app.state.context.engine
    for statement in ("UPDATE audit_event SET actor = 'nobody'", "DELETE FROM audit_event"):
        with (
            engine.connect() as connection,
            pytest.raises(DBAPIError, match=r"append-only|permission denied"),
        ):
            connection.execute(text(statement))
    if engine.dialect.name == "postgresql":
        with (
            engine.connect() as connection,
            pytest.raises(DBAPIError, match=r"append-only|permission denied"),
        ):
            connection.execute(text("TRUNCATE audit_event"))
    with server.app.state.context.session() as session:
        assert verify(session=session).intact


def _get_past_the_triggers(server: Server, statement: str) -> None:
    """What someone with the database's owner rights could still do."""
    engine = server.app.state.context.engine
    with engine.begin() as connection:
        if engine.dialect.name == "sqlite":
            connection.execute(text("DROP TRIGGER audit_event_no_delete"))
            connection.execute(text("DROP TRIGGER audit_event_no_update"))
        else:
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(text(statement))


def test_verify_finds_an_event_removed_by_hand(server: Server) -> None:
    client = server.login("inv")
    for _ in range(3):
        client.get("/api/cases/K1")
    with server.app.state.context.session() as session:
        second = sorted(e.id for e in events(session=session))[1]
    _get_past_the_triggers(server, f"DELETE FROM audit_event WHERE id = {second}")
    with server.app.state.context.session() as session:
        check = verify(session=session)
    assert not check.intact and check.broken_at == second + 1
    env = {"RXTRACE_DATABASE_URL": server.settings.database_url, "RXTRACE_SECRET_KEY": "s" * 32}
    result = CliRunner().invoke(cli, ["audit", "verify", "--format", "json"], env=env)
    assert result.exit_code != 0
    assert json.loads(result.stdout)["intact"] is False


def test_verify_finds_an_event_changed_by_hand(sqlite_server: Server) -> None:
    sqlite_server.login("inv").get("/api/cases/K1")
    _get_past_the_triggers(sqlite_server, "UPDATE audit_event SET persons = '[]'")
    with sqlite_server.app.state.context.session() as session:
        check = verify(session=session)
    assert check.problem is not None and "changed" in check.problem


def test_command_line_reads_are_audited_under_the_os_user(sqlite_server: Server) -> None:
    env = {"RXTRACE_DATABASE_URL": sqlite_server.settings.database_url, "RXTRACE_SECRET_KEY": "s" * 32}
    runner = CliRunner()
    for args in (["resolve", "--case", "K1"], ["graph", "--case", "K1"], ["timeline", "--case", "K1"]):
        assert runner.invoke(cli, [*args, "--format", "json"], env=env).exit_code == 0
        event = _last(sqlite_server)
        assert event["actor"] == default_user() and event["address"] == "cli"
        assert event["action"] == f"rxtrace {args[0]}" and CARD in event["persons"]  # type: ignore[operator]
    listed = runner.invoke(cli, ["audit", "--user", default_user(), "--format", "json"], env=env)
    assert [e["action"] for e in json.loads(listed.stdout)["events"]] == [
        "rxtrace timeline",
        "rxtrace graph",
        "rxtrace resolve",
    ]
    assert runner.invoke(cli, ["audit", "--since", "yesterday"], env=env).exit_code != 0


def test_user_commands(sqlite_server: Server) -> None:
    env = {"RXTRACE_DATABASE_URL": sqlite_server.settings.database_url, "RXTRACE_SECRET_KEY": "s" * 32}
    runner = CliRunner()
    added = runner.invoke(
        cli, ["user", "add", "zhang.wei", "--role", "supervisor"], input="a long passphrase\n", env=env
    )
    assert added.exit_code == 0, added.output
    short = runner.invoke(cli, ["user", "add", "li", "--role", "admin"], input="short\n", env=env)
    assert short.exit_code != 0 and "at least 10" in str(short.exception)
    again = runner.invoke(
        cli, ["user", "add", "zhang.wei", "--role", "admin"], input="a long passphrase\n", env=env
    )
    assert again.exit_code != 0
    assert sqlite_server.login("zhang.wei", "a long passphrase").get("/api/audit").status_code == 200
    assert (
        runner.invoke(cli, ["user", "passwd", "zhang.wei"], input="a newer passphrase\n", env=env).exit_code
        == 0
    )
    assert runner.invoke(cli, ["user", "disable", "zhang.wei"], env=env).exit_code == 0
    listed = json.loads(runner.invoke(cli, ["user", "list", "--format", "json"], env=env).stdout)["users"]
    assert {u["name"]: (u["role"], u["disabled"]) for u in listed}["zhang.wei"] == ("supervisor", True)


def test_concurrent_reads_each_get_their_event_in_one_unbroken_chain(server: Server) -> None:
    client = server.login("inv")
    path = f"/api/resolve?code={server.codes['hub']}"
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: client.get(path).status_code, range(40)))
    assert statuses == [200] * 40
    with server.app.state.context.session() as session:
        check = verify(session=session)
        assert check.intact and check.events == 40


def _entry(number: int) -> Entry:
    return Entry.of(actor="inv", action="GET /api/resolve", params={"n": number}, persons=[CARD])


def test_the_writer_commits_waiting_events_together_in_one_chain(server: Server) -> None:
    """Answers that changed nothing have their events written many to a commit: the first
    batch is held until every other caller waits, and they all go in the next one."""
    context = server.app.state.context
    opened: list[int] = []

    def sessions() -> Session:
        opened.append(len(opened))
        if len(opened) == 1:
            # 39 more wait, or fewer when the first batch took some before this ran (seen on
            # PostgreSQL: then the queue stops growing short of 39, and waiting for 39 cost
            # the test its whole 30 s deadline).
            deadline = time.monotonic() + 30
            size, since = -1, time.monotonic()
            while writer._queue.qsize() < 39 and time.monotonic() < deadline:
                if writer._queue.qsize() != size:
                    size, since = writer._queue.qsize(), time.monotonic()
                elif time.monotonic() - since > 1.0:
                    break
                time.sleep(0.01)
        return context.new_session()  # type: ignore[no-any-return]

    writer = AuditWriter(session_batches(sessions))
    try:
        with ThreadPoolExecutor(40) as pool:
            digests = list(pool.map(lambda n: writer.append(_entry(n)), range(40)))
    finally:
        writer.close()
    assert len(opened) == 2, opened
    with context.session() as session:
        check = verify(session=session)
        stored = [e.hash for e in reversed(events(session=session, limit=100))]
    assert check.intact and check.events == 40
    assert sorted(stored) == sorted(digests) and len(set(digests)) == 40


def test_a_failed_batch_fails_each_caller_and_the_writer_goes_on(server: Server) -> None:
    context = server.app.state.context
    fail = [True]

    def sessions() -> Session:
        if fail[0]:
            fail[0] = False
            raise OSError("disk gone")
        return context.new_session()  # type: ignore[no-any-return]

    writer = AuditWriter(session_batches(sessions))
    try:
        with pytest.raises(OSError, match="disk gone"):
            writer.append(_entry(1))
        writer.append(_entry(2))
    finally:
        writer.close()
    with pytest.raises(RxtraceError, match="closed"):
        writer.append(_entry(3))
    with context.session() as session:
        assert [e.params for e in events(session=session)] == [{"n": 2}]


@pytest.mark.parametrize("inline", [True, False], ids=["inline", "writer"])
def test_no_answer_leaves_without_its_event(
    sqlite_server: Server, monkeypatch: pytest.MonkeyPatch, inline: bool
) -> None:
    """Whichever way the event is written, in the answer's transaction or by the writer."""
    client = sqlite_server.login("inv")
    context = sqlite_server.app.state.context
    monkeypatch.setattr(context, "audit_inline", inline)

    def broken(*_args: object, **_kwargs: object) -> str:
        raise OSError("disk gone")

    monkeypatch.setattr(context.audit_writer, "append", broken)
    monkeypatch.setattr(auth, "record", broken)
    answer = client.get(f"/api/resolve?code={sqlite_server.codes['hub']}")
    assert answer.status_code == 500 and CARD not in answer.text
    assert "disk gone" not in answer.text


def test_reads_write_their_events_inline_on_sqlite_and_through_the_writer_on_postgresql(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite a commit is no flush to disk, so there is nothing to share; on PostgreSQL the
    writer shares one flush among the answers waiting."""
    client = server.login("inv")
    context = server.app.state.context
    writer = context.audit_writer
    handed: list[Entry] = []
    original = writer.append

    def counted(entry: Entry, *, timeout: float = 60.0) -> str:
        handed.append(entry)
        return str(original(entry, timeout=timeout))

    monkeypatch.setattr(writer, "append", counted)
    for _ in range(3):
        assert client.get(f"/api/resolve?code={server.codes['hub']}").status_code == 200
    sqlite = context.engine.url.get_backend_name() == "sqlite"
    assert len(handed) == (0 if sqlite else 3)
    with context.session() as session:
        check = verify(session=session)
    assert check.intact and check.events == 3
    assert _last(server)["action"] == "GET /api/resolve"


def test_an_answer_that_changed_something_commits_its_event_with_the_change(
    sqlite_server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Moving a lead writes its event in the move's own transaction, not through the writer."""
    client = sqlite_server.login("inv")
    lead = client.get("/api/leads?kind=card&limit=1").json()["leads"][0]

    def unused(entry: Entry, *, timeout: float = 60.0) -> str:
        raise AssertionError("a change's event went through the writer")

    monkeypatch.setattr(sqlite_server.app.state.context.audit_writer, "append", unused)
    moved = client.post(
        f"/api/leads/{lead['lead_id']}/status",
        json={"status": "investigating", "note": "taking it up"},
    )
    assert moved.status_code == 200, moved.text
    assert _last(sqlite_server)["action"] == f"POST /api/leads/{lead['lead_id']}/status"


@pytest.mark.postgres
def test_postgresql_batches_roll_back_a_failed_batch_and_the_chain_goes_on(pg_engine: Engine) -> None:
    """The writer's own transaction on PostgreSQL: a batch that fails after the turn was taken
    (in Python, or refused by the database) is rolled back, so its connection holds no turn
    and no half-written batch, and the next batch links to the last committed event."""
    own = make_engine(
        pg_engine.url.render_as_string(hide_password=False),
        pool_size=1,
        max_overflow=0,
        isolation_level="AUTOCOMMIT",
    )
    writer = AuditWriter(postgres_batches(own))
    try:
        first = writer.append(_entry(1))
        with pytest.raises(AttributeError):  # no time to hash: fails between the turn and the rows
            writer.append(dataclasses.replace(_entry(2), at=None))  # type: ignore[arg-type]
        with pytest.raises(psycopg.errors.StringDataRightTruncation):  # refused by the database
            writer.append(dataclasses.replace(_entry(3), actor="x" * 100))
        last = writer.append(_entry(4))
        with own.connect() as conn:
            stuck = conn.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND state LIKE 'idle in transaction%'"
                )
            ).scalar_one()
        assert stuck == 0
    finally:
        writer.close()
        own.dispose()
    with Session(pg_engine) as session:
        check = verify(session=session)
        stored = list(reversed(events(session=session)))
    assert check.intact and check.events == 2 and check.head == last
    assert [e.params for e in stored] == [{"n": 1}, {"n": 4}] and stored[0].hash == first
