// The case's timeline as SVG: one lane per card (or per institution), sales and returns as
// marks on their lane, seizures and shipments as lines across every lane. It zooms (wheel,
// buttons) and pans (drag); selecting a card or institution highlights its events.
import { clear, t, when } from "./common.js";

const NS = "http://www.w3.org/2000/svg";
const LANE = 16;
const TOP = 26;
const LEFT = 118;

function svg(tag, attrs, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

export function drawTimeline(container, line, { onPick, by = "card" } = {}) {
  const events = line.events.map((e) => ({ ...e, at: Date.parse(e.time) }));
  const marks = events.filter((e) => e.card || e.institution);
  const across = events.filter((e) => !e.card && !e.institution);
  const laneOf = (e) => (by === "institution" ? e.institution || e.card : e.card || e.institution);
  const names = new Map(marks.map((e) => [e.institution, e.institution_name]));
  const lanes = [...new Set(marks.map(laneOf))].sort();
  const start = Date.parse(line.start);
  const end = Date.parse(line.end);
  const pad = Math.max((end - start) * 0.02, 86400e3);
  let view = [start - pad, end + pad];
  let selected = null;

  const height = TOP + lanes.length * LANE + 8;
  container.replaceChildren();
  const root = svg("svg", { role: "img", "aria-label": t("case.timeline"), height: String(height) });
  root.classList.add("tl");
  container.append(root);
  container.dataset.events = String(events.length);

  function width() {
    return Math.max(container.clientWidth, 320);
  }

  function x(at) {
    return LEFT + ((at - view[0]) / (view[1] - view[0])) * (width() - LEFT - 20);
  }

  function ticks() {
    const span = view[1] - view[0];
    const day = 86400e3;
    const steps = [day, 7 * day, 30 * day, 91 * day, 365 * day];
    const step = steps.find((s) => span / s <= 8) || steps[steps.length - 1];
    const out = [];
    for (let at = Math.ceil(view[0] / step) * step; at <= view[1]; at += step) out.push(at);
    return out;
  }

  function render() {
    const w = width();
    root.setAttribute("viewBox", `0 0 ${w} ${height}`);
    root.setAttribute("width", String(w));
    const children = [];
    for (const at of ticks()) {
      const px = x(at);
      children.push(svg("line", { class: "grid", x1: px, x2: px, y1: TOP - 4, y2: height }));
      children.push(svg("text", { class: "axis", x: px + 2, y: 12 }, new Date(at).toISOString().slice(0, 10)));
    }
    lanes.forEach((lane, i) => {
      const label = by === "institution" ? names.get(lane) || lane : lane;
      children.push(svg("text", { class: "lane-label", x: 4, y: TOP + i * LANE + 11 }, label.slice(0, 18)));
    });
    const laneIndex = new Map(lanes.map((lane, i) => [lane, i]));
    for (const e of across) {
      const px = x(e.at);
      if (px < LEFT || px > w) continue;
      const mark = svg("line", { class: `ev ev-${e.kind}`, x1: px, x2: px, y1: TOP - 6, y2: height, "stroke-width": 2 });
      mark.setAttribute("stroke", e.kind === "seizure" ? "#d92d20" : "#7b3294");
      mark.append(svg("title", {}, `${when(e.time)} ${t("event." + e.kind)} ${e.label}`));
      children.push(mark);
    }
    for (const e of marks) {
      const px = x(e.at);
      if (px < LEFT - 3 || px > w) continue;
      const lane = laneIndex.get(laneOf(e));
      const kind = e.kind === "sale" && Number(e.fund) < 0 ? "return" : e.kind;
      const dot = svg("rect", { class: `ev ev-${kind}`, x: px - 3, y: TOP + lane * LANE + 3, width: 6, height: 10, rx: 1 });
      const hit = !selected || e.card === selected || e.institution === selected;
      dot.classList.toggle("dim", !hit);
      if (selected && hit) dot.classList.add("hi");
      dot.dataset.card = e.card || "";
      dot.append(svg("title", {}, `${when(e.time)} · ${e.label} · ${e.institution_name || ""} · ¥${e.fund || ""}`));
      dot.addEventListener("click", () => onPick && onPick(e));
      children.push(dot);
    }
    root.replaceChildren(...children);
  }

  function zoom(factor, centre) {
    const at = centre === undefined ? (view[0] + view[1]) / 2 : centre;
    const span = Math.max((view[1] - view[0]) * factor, 3600e3);
    const share = (at - view[0]) / (view[1] - view[0]);
    view = [at - span * share, at - span * share + span];
    render();
  }

  function atPixel(px) {
    return view[0] + ((px - LEFT) / (width() - LEFT - 20)) * (view[1] - view[0]);
  }

  root.addEventListener("wheel", (event) => {
    if (!event.ctrlKey && !event.altKey && Math.abs(event.deltaX) < Math.abs(event.deltaY) && !event.shiftKey) {
      // Plain wheel scrolls the lanes; with Ctrl / Alt it zooms the time axis.
      return;
    }
    event.preventDefault();
    const box = root.getBoundingClientRect();
    zoom(event.deltaY > 0 ? 1.25 : 0.8, atPixel(event.clientX - box.left));
  }, { passive: false });
  let drag = null;
  root.addEventListener("pointerdown", (event) => { drag = { x: event.clientX, view: [...view] }; });
  addEventListener("pointerup", () => { drag = null; });
  root.addEventListener("pointermove", (event) => {
    if (!drag) return;
    const shift = ((event.clientX - drag.x) / (width() - LEFT - 20)) * (drag.view[1] - drag.view[0]);
    view = [drag.view[0] - shift, drag.view[1] - shift];
    render();
  });
  if (container.rxObserver) container.rxObserver.disconnect();
  container.rxObserver = new ResizeObserver(() => render());
  container.rxObserver.observe(container);
  render();
  return {
    zoom,
    highlight(id) {
      selected = id;
      render();
      const i = lanes.indexOf(id);
      if (i >= 0) container.scrollTop = Math.max(0, TOP + i * LANE - container.clientHeight / 2);
    },
    clear: () => { selected = null; render(); },
  };
}

export function emptyTimeline(container) {
  clear(container);
}
