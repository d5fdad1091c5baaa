/* Leads: the list with filters, a lead's evidence in plain words (statistics one click away),
   its history, and the workflow buttons the user's role allows. */
import { api, can, clear, el, failed, page, t, when } from "./common.js";

const filters = document.getElementById("lead-filters");
const tbody = document.querySelector("#leads tbody");
const detail = document.getElementById("lead-detail");
const ruleSelect = document.getElementById("lead-rule");
const caseSelect = document.getElementById("lead-case");
let leads = [];
let current = null;

// Where a lead may go next, as the server's workflow allows (trace/investigate/params.py);
// the server decides, these are only the buttons offered.
const NEXT = { new: ["investigating", "closed"], investigating: ["escalated", "closed"], escalated: ["closed"], closed: ["investigating"] };

function leadChip(status) {
  return status ? el("span", { class: `status lead-${status}` }, t(`lead.${status}`)) : "";
}

function number(value) {
  if (Array.isArray(value)) return String(value.length); // evidence lists what it counted
  const n = Number(value);
  if (!Number.isFinite(n)) return value;
  return Number.isInteger(n) ? String(n) : n.toFixed(n < 1 ? 2 : 1);
}

// A doctor lead is named "doctor at PLACE" by the engine: said in the page's language.
const DOCTOR_AT = "doctor at ";
function shownName(lead) {
  if (lead.kind === "doctor" && lead.name && lead.name.startsWith(DOCTOR_AT)) {
    return t("lead.doctor_at").replace("{place}", lead.name.slice(DOCTOR_AT.length));
  }
  return lead.name || lead.id;
}

function plain(rule, names) {
  const template = page.t[`rule.${rule.rule}`];
  if (!template) return rule.title;
  const ev = rule.evidence || {};
  const drugName = (code) => (names[code] ? `${names[code]}` : code);
  const values = { ...ev, drug_name: drugName(ev.drug), drug_names: (ev.drugs || []).map(drugName).join("、") };
  return template.replace(/\{(\w+)\}/g, (_, key) => (values[key] === undefined ? "?" : number(values[key])));
}

function drawList() {
  const rule = ruleSelect.value;
  const shown = leads.filter((l) => !rule || l.rules.some((r) => r.rule === rule));
  if (!shown.length) {
    clear(tbody, el("tr", {}, el("td", { colspan: 5, class: "muted" }, t("common.none"))));
    return;
  }
  clear(tbody, shown.map((l) => el("tr", {
    class: `clickable${current === l.lead_id ? " selected" : ""}`, dataset: { lead: l.lead_id },
    onclick: () => open(l.lead_id),
  }, el("td", {}, l.lead_id), el("td", {}, t(`kind.${l.kind}`)), el("td", {}, shownName(l), el("div", { class: "muted mono small" }, l.id)),
  el("td", { class: "num" }, number(l.score)), el("td", {}, leadChip(l.status)))));
}

async function loadList() {
  const form = new FormData(filters);
  try {
    const data = await api("/api/leads", { query: { kind: form.get("kind"), status: form.get("status"), case: form.get("case"), limit: 0 } });
    leads = data.leads;
    const rules = [...new Set(leads.flatMap((l) => l.rules.map((r) => r.rule)))].sort();
    const keep = ruleSelect.value;
    clear(ruleSelect, el("option", { value: "" }, t("common.all")), rules.map((r) => el("option", { value: r }, page.t[`rulename.${r}`] || r)));
    ruleSelect.value = rules.includes(keep) ? keep : "";
    drawList();
  } catch (error) {
    failed(error, tbody);
  }
}

function drawLead(lead) {
  const names = lead.drug_names || {};
  const buttons = (NEXT[lead.status] || []).filter((to) => {
    const takingUp = lead.status === "new" && to === "investigating";
    return can(takingUp ? "leads.investigate" : "leads.workflow");
  });
  const note = el("textarea", { id: "lead-note", rows: 2, maxlength: 4000, "aria-label": t("leads.note") });
  clear(detail,
    el("h2", {}, `#${lead.lead_id} ${t(`kind.${lead.kind}`)} ${shownName(lead)} `, leadChip(lead.status)),
    el("p", { class: "muted mono" }, lead.id),
    el("h3", {}, t("leads.evidence")),
    lead.rules.map((rule) => el("div", { class: "rule", dataset: { rule: rule.rule } },
      el("p", {}, plain(rule, names)),
      el("details", {}, el("summary", {}, t("leads.statistics")),
        el("p", { class: "small" }, `${rule.title}: ${rule.detail}`),
        el("pre", { class: "small mono" }, JSON.stringify(rule.evidence, null, 1))))),
    el("h3", {}, t("leads.history")),
    el("ol", { class: "history" }, (lead.history || []).map((h) => el("li", {},
      `${when(h.at)} · ${h.by} · ${h.from_status ? t(`lead.${h.from_status}`) + " → " : ""}${t(`lead.${h.to_status}`)}`,
      h.note ? el("div", { class: "muted" }, h.note) : ""))),
    can("leads.note") ? el("div", {}, note, el("div", { class: "actions" },
      el("button", { type: "button", id: "add-note", onclick: () => act(lead.lead_id, null) }, t("leads.add_note")),
      buttons.map((to) => el("button", { type: "button", class: "primary", dataset: { to }, onclick: () => act(lead.lead_id, to) },
        `${t("leads.move")} ${t(`lead.${to}`)}`)))) : "");
}

async function open(id) {
  current = id;
  drawList();
  try {
    drawLead(await api(`/api/leads/${id}`));
    if (innerWidth < 900) detail.scrollIntoView({ block: "start" }); // below the list on a phone
  } catch (error) {
    failed(error, detail);
  }
}

async function act(id, to) {
  const note = document.getElementById("lead-note").value.trim() || null;
  try {
    const lead = to
      ? await api(`/api/leads/${id}/status`, { method: "POST", json: { status: to, note } })
      : await api(`/api/leads/${id}/notes`, { method: "POST", json: { note: note || "" } });
    drawLead(lead);
    const row = leads.find((l) => l.lead_id === id);
    if (row) row.status = lead.status;
    drawList();
  } catch (error) {
    failed(error);
  }
}

filters.addEventListener("change", (event) => {
  if (event.target === ruleSelect) drawList();
  else loadList();
});
api("/api/cases").then(({ cases }) => {
  cases.forEach((c) => caseSelect.append(el("option", { value: c.case_id }, c.case_id)));
}).catch(() => {});
loadList();
