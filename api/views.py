"""HTTP endpoints: resolution of codes, seizures and cases as JSON."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, Field

from rxtrace.api.deps import SessionDep, SettingsDep
from rxtrace.api.output import to_jsonable
from rxtrace.trace.resolve.service import resolve_case, resolve_codes, resolve_seizure

__all__ = ["router"]

router = APIRouter(prefix="/api")


class CodesIn(BaseModel):
    codes: list[str] = Field(min_length=1, max_length=100_000)


@router.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@router.post("/resolve")
def resolve_many(body: CodesIn, session: SessionDep, settings: SettingsDep) -> Any:
    result = resolve_codes(body.codes, session=session)
    return jsonable_encoder(to_jsonable(result.to_dict(reveal=settings.show_sensitive)))


@router.get("/resolve")
def resolve_one(session: SessionDep, settings: SettingsDep, code: list[str] = Query(min_length=1)) -> Any:
    result = resolve_codes(code, session=session)
    return to_jsonable(result.to_dict(reveal=settings.show_sensitive))


@router.get("/seizures/{seizure_id}")
def seizure(seizure_id: str, session: SessionDep, settings: SettingsDep) -> Any:
    return to_jsonable(resolve_seizure(seizure_id, session=session).to_dict(reveal=settings.show_sensitive))


@router.get("/cases/{case_id}")
def case(case_id: str, session: SessionDep, settings: SettingsDep) -> Any:
    return to_jsonable(resolve_case(case_id, session=session).to_dict(reveal=settings.show_sensitive))
