"""The HTTP API: resolution endpoints, and domain errors mapped to status codes in one table."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from rxtrace.api.app import create_app
from rxtrace.api.config import Settings
from rxtrace.trace.ingest.load import load_paths

from .builders import sale, write_world

CODE = "83395630003642750912"


def make_client(tmp_path: Path) -> TestClient:
    settings = Settings(data_dir=tmp_path, secret_key="s" * 32)
    app = create_app(settings)
    context = app.state.context
    write_world(tmp_path / "in", sales=[sale(CODE, psn_no="310000000051")], seized=[("Z1", CODE)])
    with context.session() as session:
        load_paths([tmp_path / "in"], session=session, protector=context.protector)
    return TestClient(app)


def test_resolve_endpoints(tmp_path: Path) -> None:
    client = make_client(tmp_path)
    assert client.get("/api/health").json() == {"status": "ok"}
    one = client.get("/api/resolve", params={"code": CODE}).json()
    assert one["codes"][0]["status"] == "dispensed"
    assert one["codes"][0]["sales"][0]["psn_no"] == "3100****0051"
    many = client.post("/api/resolve", json={"codes": [CODE, "junk"]}).json()
    assert [c["status"] for c in many["codes"]] == ["dispensed", "malformed"]
    case = client.get("/api/cases/CASE-1").json()
    assert case["summary"]["boxes"] == 1 and case["summary"]["fund_loss"] == "49.50"


def test_domain_errors_map_to_status_codes(tmp_path: Path) -> None:
    client = make_client(tmp_path)
    missing = client.get("/api/cases/NOPE")
    assert missing.status_code == 404 and "No case 'NOPE'" in missing.json()["detail"]
    assert client.post("/api/resolve", json={"codes": []}).status_code == 422
