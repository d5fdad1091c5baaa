import { api, clear, el, failed, t, when } from "./common.js";

const form = document.getElementById("audit-filter");
const tbody = document.querySelector("#events tbody");

async function load() {
  try {
    const [data, chain] = await Promise.all([
      api("/api/audit", { query: { user: new FormData(form).get("user"), limit: 500 } }),
      api("/api/audit/verify"),
    ]);
    document.getElementById("chain").textContent = `${t("audit.chain")}: ${chain.intact ? "OK" : "✗ " + (chain.problem || "")} (${chain.events})`;
    clear(tbody, data.events.map((e) => el("tr", { dataset: { action: e.action } },
      el("td", {}, when(e.at)), el("td", {}, e.actor), el("td", { class: "mono" }, e.action,
        el("div", { class: "muted small" }, JSON.stringify(e.params))),
      el("td", { class: "mono small" }, (e.persons || []).slice(0, 6).join(", "), (e.persons || []).length > 6 ? " …" : ""),
      el("td", {}, e.revealed ? "✓" : ""), el("td", {}, e.reason || ""), el("td", {}, e.address || ""))));
  } catch (error) {
    failed(error, tbody);
  }
}

form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
load();
