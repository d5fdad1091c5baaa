/* The case page: summary, link chart and timeline side by side (linked), the box table. */
import { api, can, clear, el, failed, page, stat, statusChip, t, when, yuan } from "./common.js";
import { drug, firstSale, why } from "./boxes.js";
import { drawChart } from "./chart.js";
import { drawTimeline } from "./timeline.js";

const caseId = page.params.case_id;
const base = `/api/cases/${encodeURIComponent(caseId)}`;
const summaryNode = document.getElementById("summary");
const tbody = document.querySelector("#boxes tbody");
const statusFilter = document.getElementById("status-filter");
const search = document.getElementById("box-search");
let boxes = [];
let sortKey = "status";
let sortDir = -1;
let disclosure = {};
let chart = null;
let timeline = null;
let lineData = null;

function drawLine() {
  timeline = drawTimeline(document.getElementById("timeline"), lineData, {
    by: document.getElementById("tl-by").value,
    onPick: (event) => { if (chart && event.card) chart.select(`card:${event.card}`); },
  });
}

function boxFields(box) {
  const sale = firstSale(box);
  return {
    code: box.code, status: box.status, drug: drug(box),
    institution: sale ? sale.institution || sale.fixmedins_code : "",
    card: sale ? sale.psn_no || "" : "", time: sale ? sale.time : "", fund: Number(box.fund_loss || 0),
  };
}

function drawBoxes() {
  const q = search.value.trim().toLowerCase();
  const wanted = statusFilter.value;
  const shown = boxes.filter((b) => (!wanted || b.box.status === wanted)
    && (!q || [b.code, b.drug, b.institution, b.card].some((v) => String(v).toLowerCase().includes(q))));
  shown.sort((a, b) => {
    const x = a[sortKey];
    const y = b[sortKey];
    return (typeof x === "number" ? x - y : String(x).localeCompare(String(y))) * sortDir;
  });
  document.getElementById("box-shown").textContent = `${shown.length} / ${boxes.length}`;
  clear(tbody, shown.map((b) => {
    const explanation = why(b.box);
    return el("tr", { dataset: { code: b.code, status: b.status } },
      el("td", { class: "mono" }, b.code),
      el("td", {}, statusChip(b.status), explanation ? el("div", { class: "muted small" }, explanation) : ""),
      el("td", {}, b.drug), el("td", {}, b.institution), el("td", { class: "mono" }, b.card),
      el("td", {}, when(b.time)), el("td", { class: "num" }, yuan(b.box.fund_loss)));
  }));
}

function drawSummary(document_) {
  const s = document_.summary;
  const drugs = new Set(document_.codes.map((c) => c.product && c.product.name).filter(Boolean));
  const times = document_.codes.flatMap((c) => (c.sales || []).map((x) => x.time)).filter(Boolean).sort();
  const counts = chart ? chart.counts : null;
  clear(summaryNode,
    stat(t("common.boxes"), s.boxes),
    stat(t("common.fund_loss"), yuan(s.fund_loss)),
    Object.entries(s.statuses).filter(([, n]) => n).map(([k, n]) => stat(t(`status.${k}`), n)),
    stat(t("case.drugs"), drugs.size),
    counts ? [stat(t("case.cards"), counts.card || 0), stat(t("case.institutions"), counts.institution || 0),
      stat(t("case.doctors"), counts.doctor || 0)] : "",
    stat(t("case.clone_suspects"), s.clone_suspects),
    times.length ? stat(t("case.dates"), `${times[0].slice(0, 10)} – ${times[times.length - 1].slice(0, 10)}`) : "");
}

async function load() {
  try {
    const [resolution, graph, line] = await Promise.all([
      api(base, { query: disclosure }),
      api(`${base}/graph`, { query: disclosure }).catch((e) => ({ error: e })),
      api(`${base}/timeline`, { query: disclosure }).catch((e) => ({ error: e })),
    ]);
    boxes = resolution.codes.map((box) => ({ ...boxFields(box), box }));
    const present = [...new Set(boxes.map((b) => b.status))];
    clear(statusFilter, el("option", { value: "" }, t("common.all")),
      present.map((s) => el("option", { value: s }, t(`status.${s}`))));
    if (graph.error) failed(graph.error, document.getElementById("chart"));
    else {
      chart = drawChart(document.getElementById("chart"), document.getElementById("chart-list"), graph.graph, {
        onSelect: (node) => {
          if (!timeline) return;
          if (!node) timeline.clear();
          else timeline.highlight(node.type === "institution" ? node.id.slice("institution:".length) : node.label);
          document.getElementById("tl-selected").textContent = node ? `${t("case.selected")}: ${node.label}` : "";
        },
      });
      chart.counts = graph.counts;
    }
    if (line.error) failed(line.error, document.getElementById("timeline"));
    else {
      lineData = line;
      drawLine();
    }
    drawSummary(resolution);
    drawBoxes();
  } catch (error) {
    failed(error, summaryNode);
  }
}

document.querySelectorAll("#boxes th[data-sort]").forEach((th) => th.addEventListener("click", () => {
  sortDir = sortKey === th.dataset.sort ? -sortDir : 1;
  sortKey = th.dataset.sort;
  document.querySelectorAll("#boxes th").forEach((h) => h.removeAttribute("aria-sort"));
  th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
  drawBoxes();
}));
statusFilter.addEventListener("change", drawBoxes);
search.addEventListener("input", drawBoxes);
document.querySelectorAll(".chart-card input[name=type]").forEach((box) => box.addEventListener("change", () => {
  const types = [...document.querySelectorAll(".chart-card input[name=type]:checked")].map((b) => b.value);
  if (chart) chart.filter(types);
}));
document.getElementById("chart-fit").addEventListener("click", () => chart && chart.fit());
document.getElementById("chart-png").addEventListener("click", () => {
  if (!chart) return;
  const link = el("a", { href: chart.png(), download: `${caseId}-chart.png` });
  document.body.append(link);
  link.click();
  link.remove();
});
document.getElementById("tl-by").addEventListener("change", () => lineData && drawLine());
document.getElementById("tl-in").addEventListener("click", () => timeline && timeline.zoom(0.5));
document.getElementById("tl-out").addEventListener("click", () => timeline && timeline.zoom(2));
if (can("dossier")) document.getElementById("dossier-buttons").hidden = false;
if (can("reveal")) {
  const form = document.getElementById("reveal-form");
  form.hidden = false;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    disclosure = { reveal: "true", reason: document.getElementById("reveal-reason").value };
    document.querySelectorAll("#dossier-buttons a").forEach((a) => {
      const url = new URL(a.href);
      url.searchParams.set("reveal", "true");
      url.searchParams.set("reason", disclosure.reason);
      a.href = url.pathname + url.search;
    });
    load();
  });
}
load();
