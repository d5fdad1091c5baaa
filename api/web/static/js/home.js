import { api, el, failed, page, rows, statusChip, t, when } from "./common.js";

const casesBody = document.querySelector("#cases tbody");
const seizuresBody = document.querySelector("#seizures tbody");
const search = document.getElementById("search");
let cases = [];
let seizures = [];

function statuses(counts) {
  return el("span", { class: "actions" },
    Object.entries(counts || {}).filter(([, n]) => n > 0).map(([s, n]) => el("span", {}, statusChip(s), " ", n)));
}

function matches(item, fields) {
  const q = search.value.trim().toLowerCase();
  return !q || fields.some((f) => String(item[f] || "").toLowerCase().includes(q));
}

function draw() {
  const shownCases = cases.filter((c) => matches(c, ["case_id"]));
  rows(casesBody, shownCases, (c) => el("tr", {},
    el("td", {}, el("a", { href: `/cases/${encodeURIComponent(c.case_id)}` }, c.case_id)),
    el("td", { class: "num" }, c.seizures),
    el("td", {}, when(c.last_seized_at)),
    el("td", { class: "num" }, c.boxes),
    el("td", {}, statuses(c.statuses))), 5);
  const shownSeizures = seizures.filter((s) => matches(s, ["seizure_id", "case_id", "address", "place_kind"]));
  rows(seizuresBody, shownSeizures, (s) => el("tr", {},
    el("td", { class: "mono" }, s.seizure_id),
    el("td", {}, s.case_id ? el("a", { href: `/cases/${encodeURIComponent(s.case_id)}` }, s.case_id) : ""),
    el("td", {}, when(s.seized_at)),
    el("td", {}, s.address || s.place_kind || ""),
    el("td", { class: "num" }, s.boxes),
    el("td", {}, page.permissions.includes("scan")
      ? el("a", { href: `/scan?seizure=${encodeURIComponent(s.seizure_id)}` }, t("home.scan_here")) : "")), 6);
}

async function load() {
  try {
    const [c, s] = await Promise.all([api("/api/cases"), api("/api/seizures")]);
    // Newest first.
    cases = c.cases.sort((a, b) => String(b.last_seized_at).localeCompare(String(a.last_seized_at)));
    seizures = s.seizures.sort((a, b) => String(b.seized_at).localeCompare(String(a.seized_at)));
    draw();
  } catch (error) {
    failed(error, casesBody.parentElement.parentElement);
  }
}

search.addEventListener("input", draw);
load();
