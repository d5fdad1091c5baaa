"""Where and where to: hot spots, courier routes and the case map."""

from __future__ import annotations

import tempfile
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from rxtrace.api.auth import Caller, permitted
from rxtrace.api.deps import SessionDep
from rxtrace.api.errors import error_responses
from rxtrace.api.views.answer import JSONAnswer
from rxtrace.geo.layers import Layer
from rxtrace.trace.accounts import Permission

__all__ = ["router"]

router = APIRouter(tags=["geo"])
Mapper = Annotated[Caller, Depends(permitted(Permission.geo))]
_ERRORS = error_responses(401, 403, 404, 422)


class MapFormat(StrEnum):
    html = "html"
    png = "png"
    json = "json"


@router.get("/hotspots", responses=_ERRORS)
def hotspots(
    caller: Mapper,
    session: SessionDep,
    case: str | None = None,
    layer: Layer = Layer.residences,
    resolution: Annotated[int | None, Query(ge=0, le=15)] = None,
    permutations: Annotated[int | None, Query(ge=99, le=99_999)] = None,
    # NumPy takes seeds below 2**32; the answer repeats the seed, and JSON numbers stop at 64 bits.
    seed: Annotated[int, Query(ge=0, le=2**32 - 1)] = 12345,
) -> Any:
    """The same GeoJSON as ``rxtrace hotspots --format json``."""
    from rxtrace.geo import service

    result = service.hotspots(
        session=session,
        case_id=case,
        layer=layer.value,
        resolution=resolution,
        permutations=permutations,
        seed=seed,
    )
    return JSONAnswer(result.to_geojson())


@router.get("/routes", responses=_ERRORS)
def routes(
    caller: Mapper,
    session: SessionDep,
    case: str | None = None,
    near_m: Annotated[float, Query(ge=0)] = 500.0,
    heavy_kg: Annotated[float, Query(ge=0)] = 2.0,
    min_repeats: Annotated[int, Query(ge=1, le=1_000_000)] = 3,
    far_km: Annotated[float, Query(ge=0)] = 300.0,
) -> Any:
    """The same JSON as ``rxtrace routes --format json``."""
    from rxtrace.geo import service
    from rxtrace.geo.routes import FlagRules

    rules = FlagRules(near_m=near_m, heavy_kg=heavy_kg, min_repeats=min_repeats, far_km=far_km)
    found = service.routes(session=session, case_id=case, rules=rules)
    return JSONAnswer({"routes": [r.to_dict() for r in found]})


@router.get(
    "/maps",
    responses={**_ERRORS, 200: {"content": {"text/html": {}, "image/png": {}, "application/json": {}}}},
)
def maps(
    caller: Mapper,
    session: SessionDep,
    case: str | None = None,
    layer: Layer = Layer.residences,
    format: MapFormat = MapFormat.html,
) -> Response:
    """The case map as ``rxtrace map`` draws it: a self-contained HTML file (a download: it
    carries its own script), a PNG, or its layers as GeoJSON (``json``, what the map page draws)."""
    from rxtrace.geo import maps as drawing

    data = drawing.build_map_data(session=session, case_id=case, layer=layer.value)
    if format is MapFormat.json:
        return JSONAnswer(drawing.map_payload(data))
    with tempfile.TemporaryDirectory(prefix="rxtrace-map-") as folder:
        target = Path(folder) / f"map.{format.value}"
        if format is MapFormat.png:
            drawing.write_png_map(data, out=target)
            return Response(target.read_bytes(), media_type="image/png")
        drawing.write_html_map(data, out=target)
        return Response(
            target.read_bytes(),
            media_type="text/html; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="map.html"'},
        )
