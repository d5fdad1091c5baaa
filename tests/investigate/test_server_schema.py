"""schemathesis against the server's own OpenAPI document, logged in: whatever the generated
requests, no server error, and every status answered is one the document declares."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error, status_code_conformance
from schemathesis.core.result import Err

from .serverkit import PASSWORD, Server

EXAMPLES = 12  # per operation: bounded, so make test stays quick


def test_no_server_errors_and_every_status_documented(server: Server) -> None:
    client = server.client()
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", server.app)
    failures: list[str] = []
    statuses: set[int] = set()
    operations = 0
    for result in schema.get_all_operations():
        assert not isinstance(result, Err), result
        operation = result.ok()
        if operation.path == "/api/auth/login":
            continue  # random names and passwords only fill the throttle; its own tests cover it
        operations += 1
        # A fresh login per operation: the examples of POST /api/auth/logout end theirs.
        login = client.post("/api/auth/login", data={"username": "sup", "password": PASSWORD}).json()
        headers = {"Authorization": f"Bearer {login['access_token']}"}

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
        def run(case: Case[Any]) -> None:
            answer = case.call_and_validate(
                headers=headers,  # noqa: B023 - run() is called right away, in this turn of the loop
                checks=[not_a_server_error, status_code_conformance],
            )
            if operation.path != "/api/auth/logout":  # noqa: B023 - its examples end their own session
                statuses.add(answer.status_code)

        try:
            run()
        except Exception as exc:  # one operation's failure is reported with all the others
            failures.append(f"{operation.method.upper()} {operation.path}: {str(exc)[:1500]}")
    assert operations >= 20
    assert failures == []
    assert 200 in statuses and 401 not in statuses  # the calls were made logged in
