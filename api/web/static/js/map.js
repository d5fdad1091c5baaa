/* The map page: the layers of `rxtrace map` on Leaflet (no tile server: district and province
   outlines are the base), a case filter, a time filter, and a China inset for the courier
   routes that leave Shanghai, so the default view of the city stays readable. */
/* global L */
import { api, clear, el, failed, page, t, when } from "./common.js";

const mapNode = document.getElementById("map");
const caseSelect = document.getElementById("map-case");
const layerSelect = document.getElementById("map-layer");
const from = document.getElementById("map-from");
const to = document.getElementById("map-to");
const map = L.map(mapNode, { attributionControl: false, zoomSnap: 0.25, preferCanvas: false });
const inset = L.map("inset", { attributionControl: false, zoomControl: false, dragging: false,
  scrollWheelZoom: false, doubleClickZoom: false, boxZoom: false, keyboard: false, touchZoom: false });
let control = null;
let groups = [];
let state = null;

function popup(title, props, keys) {
  return el("div", {}, el("strong", {}, title), el("table", {}, keys.filter((k) => props[k] !== undefined && props[k] !== null)
    .map((k) => el("tr", {}, el("th", {}, k), el("td", {}, Array.isArray(props[k]) ? props[k].join(", ") : String(props[k]))))));
}

const BINS = { 3: "map.hot99", 2: "map.hot95", 1: "map.hot90", 0: "map.not_significant", "-1": "map.cold90", "-2": "map.cold95", "-3": "map.cold99" };

// A hot spot cell or cluster in words first ("hot spot 99 % · 12 card holders' homes"), the
// Gi* statistics one click away.
function spotPopup(title, props, layer, keys) {
  const count = Number(props.count || 0);
  const words = `${t(BINS[String(props.bin)] || "map.not_significant")} · ${count} ${t(`map.noun.${layer}`)}`
    + (count === 0 && props.bin > 0 ? ` ${t("map.neighbours_hot")}` : "");
  const stats = popup("", props, keys);
  return el("div", {}, el("strong", {}, title), el("p", { class: "spot-words" }, words),
    el("details", {}, el("summary", {}, t("map.statistics")), stats));
}

function inShanghai(lonlat) {
  return lonlat[0] > 120.8 && lonlat[0] < 122.2 && lonlat[1] > 30.6 && lonlat[1] < 31.95;
}

function draw(D) {
  groups.forEach((g) => { map.removeLayer(g); inset.removeLayer(g); });
  if (control) control.remove();
  const provinces = L.geoJSON(D.provinces, { interactive: false,
    style: { color: "#999", weight: 0.8, fillColor: "#fafafa", fillOpacity: 0.6 } });
  const districts = L.geoJSON(D.districts, {
    style: { color: "#777", weight: 1, fillColor: "#fff", fillOpacity: 0.9 },
    onEachFeature: (f, layer) => layer.bindTooltip(`${f.properties.name} ${f.properties.adcode}`),
  });
  const cells = L.geoJSON(D.cells, {
    style: (f) => ({ className: "rx-cell", color: D.colours[String(f.properties.bin)], weight: f.properties.bin ? 1 : 0.5,
      fillColor: D.colours[String(f.properties.bin)], fillOpacity: f.properties.bin ? 0.65 : 0.25 }),
    onEachFeature: (f, layer) => layer.bindPopup(() => spotPopup(`H3 ${f.properties.cell}`, f.properties, D.summary.layer,
      ["count", "z", "p_fdr", "bin", "seizures", "cards", "boxes", "fund_yuan"])),
  });
  const clusters = L.layerGroup(D.clusters.features.map((f) => {
    const p = f.properties;
    const c = f.geometry.coordinates;
    return L.circle([c[1], c[0]], { radius: Math.max(p.radius_m, 60), className: "rx-cluster", color: "#7b3294",
      weight: 2, fillOpacity: 0.15 }).bindPopup(() => spotPopup(`${t("map.clusters")} ${p.cluster}`, p, D.summary.layer,
      ["count", "expected", "z", "p_fdr", "seizures", "cards", "boxes", "fund_yuan"]));
  }));
  const points = (fc, cls, colour, radius) => L.geoJSON(fc, {
    pointToLayer: (f, ll) => L.circleMarker(ll, { className: cls, radius, color: "#222", weight: 1, fillColor: colour, fillOpacity: 0.9 }),
    onEachFeature: (f, layer) => layer.bindPopup(() => popup(f.properties.label, f.properties,
      ["id", "when", "seizures", "cards", "boxes", "fund_yuan"])),
  });
  const seizures = points(D.seizures, "rx-seizure", "#e41a1c", 7);
  const institutions = points(D.institutions, "rx-institution", "#377eb8", 5);
  const maxParcels = Math.max(1, ...D.routes.features.map((f) => f.properties.parcels));
  const routeLines = [];
  const routes = L.layerGroup();
  const insetRoutes = L.layerGroup();
  for (const f of D.routes.features.filter((x) => x.geometry)) {
    const c = f.geometry.coordinates;
    const p = f.properties;
    const style = { className: "rx-route", color: p.flagged ? "#d7191c" : "#4d4d4d", opacity: p.flagged ? 0.9 : 0.5,
      weight: 1.5 + (6 * p.parcels) / maxParcels, dashArray: p.flagged ? null : "4 4" };
    insetRoutes.addLayer(L.polyline([[c[0][1], c[0][0]], [c[1][1], c[1][0]]], { ...style, weight: 1.5, className: "rx-inset-route" }));
    if (!inShanghai(c[1]) && !p.flagged) continue; // leaving the city unflagged: the inset shows it
    let line;
    if (inShanghai(c[1])) {
      line = L.polyline([[c[0][1], c[0][0]], [c[1][1], c[1][0]]], style);
    } else {
      // Leaving the city: an arrow from the origin towards the destination, stopped at the
      // city's edge; the whole route is on the inset.
      const dx = c[1][0] - c[0][0];
      const dy = c[1][1] - c[0][1];
      const k = 0.45 / Math.max(Math.abs(dx), Math.abs(dy), 1e-9);
      const tip = [c[0][1] + dy * k, c[0][0] + dx * k];
      line = L.polyline([[c[0][1], c[0][0]], tip], style);
      line.bindTooltip(`→ ${p.to_name}`, { permanent: false });
    }
    line.bindPopup(() => popup(`${p.from_name} → ${p.to_name}`, p,
      ["from", "to", "parcels", "weight_kg", "distance_km", "flagged", "why", "flagged_waybills"]));
    line.rx = p;
    routeLines.push(line);
    routes.addLayer(line);
  }
  const insetProvinces = L.geoJSON(D.provinces, { interactive: false,
    style: { color: "#aaa", weight: 0.5, fillColor: "#f4f4f4", fillOpacity: 1 } });
  groups = [provinces, districts, cells, clusters, seizures, institutions, routes];
  groups.forEach((g) => g.addTo(map));
  insetProvinces.addTo(inset);
  insetRoutes.addTo(inset);
  groups.push(insetProvinces, insetRoutes);
  const overlays = {};
  overlays[t("map.districts")] = districts;
  overlays[`${t("map.cells")} (${D.summary.layer})`] = cells;
  overlays[t("map.clusters")] = clusters;
  overlays[t("map.seizures")] = seizures;
  overlays[t("map.institutions")] = institutions;
  overlays[t("map.routes")] = routes;
  control = L.control.layers({}, overlays, { collapsed: innerWidth < 700 }).addTo(map);
  map.fitBounds(districts.getBounds());
  inset.fitBounds(insetProvinces.getBounds());
  state = { D, seizures, routes, routeLines, all: seizures.getLayers() };
  // Time filter over every seizure and shipment day.
  const days = new Set();
  D.seizures.features.forEach((f) => f.properties.when && days.add(f.properties.when.slice(0, 10)));
  D.routes.features.forEach((f) => (f.properties.days || []).forEach((d) => days.add(d)));
  state.days = [...days].sort();
  from.max = to.max = String(Math.max(state.days.length - 1, 0));
  from.value = "0";
  to.value = to.max;
  applyFilter();
  mapNode.dataset.ready = "1";
  mapNode.dataset.layers = String(Object.keys(overlays).length);
}

function applyFilter() {
  if (!state) return;
  const a = Math.min(+from.value, +to.value);
  const b = Math.max(+from.value, +to.value);
  const lo = state.days[a] || "";
  const hi = state.days[b] || "\uffff";
  let shown = 0;
  state.all.forEach((m) => {
    const w = (m.feature.properties.when || "").slice(0, 10);
    if (!w || (w >= lo && w <= hi)) { state.seizures.addLayer(m); shown++; } else state.seizures.removeLayer(m);
  });
  state.routeLines.forEach((line) => {
    const n = (line.rx.days || []).filter((d) => d >= lo && d <= hi).length;
    if (n) { state.routes.addLayer(line); shown++; } else state.routes.removeLayer(line);
  });
  document.getElementById("map-range").textContent =
    state.days.length ? `${lo} – ${state.days[b] || ""} · ${shown} ${t("map.items_shown")}` : "";
}

const legend = L.control({ position: "bottomright" });
legend.onAdd = () => el("div", { class: "legend" },
  el("div", {}, el("i", { class: "b3" }), t("map.hot99")), el("div", {}, el("i", { class: "b2" }), t("map.hot95")),
  el("div", {}, el("i", { class: "b1" }), t("map.hot90")), el("div", {}, el("i", { class: "sz" }), t("map.seizures")),
  el("div", {}, el("i", { class: "in" }), t("map.institutions")), el("div", {}, el("i", { class: "cl" }), t("map.clusters")),
  el("div", {}, el("i", { class: "rt" }), t("map.flagged")));
legend.addTo(map);

async function load() {
  mapNode.dataset.ready = "0";
  try {
    draw(await api("/api/maps", { query: { format: "json", case: caseSelect.value, layer: layerSelect.value } }));
  } catch (error) {
    failed(error);
  }
}

async function init() {
  try {
    const { cases } = await api("/api/cases");
    clear(caseSelect, el("option", { value: "" }, t("common.all")),
      cases.map((c) => el("option", { value: c.case_id }, `${c.case_id} (${when(c.last_seized_at).slice(0, 10)})`)));
    caseSelect.value = page.params.case || (cases[0] ? cases[0].case_id : "");
  } catch (error) {
    failed(error);
  }
  await load();
}

caseSelect.addEventListener("change", load);
layerSelect.addEventListener("change", load);
from.addEventListener("input", applyFilter);
to.addEventListener("input", applyFilter);
init();
