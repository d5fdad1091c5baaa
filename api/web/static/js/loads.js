/* Loads (admin): upload contract files with a progress bar, then the load report and the
   rows set aside. XMLHttpRequest rather than fetch: only it reports upload progress. */
import { api, clear, el, failed, t, when } from "./common.js";

const form = document.getElementById("load-form");
const progress = document.getElementById("load-progress");
const report = document.getElementById("load-report");

function csrf() {
  const found = document.cookie.split("; ").find((c) => c.startsWith("rxtrace_csrf="));
  return found ? decodeURIComponent(found.slice("rxtrace_csrf=".length)) : "";
}

function drawReport(doc) {
  clear(report, el("div", { class: "table-wrap" }, el("table", { class: "data", id: "load-files" },
    el("thead", {}, el("tr", {}, el("th", {}, t("loads.file")), el("th", {}, t("loads.table")), el("th", {}, t("loads.state")),
      el("th", { class: "num" }, t("loads.taken")), el("th", { class: "num" }, t("loads.set_aside")))),
    el("tbody", {}, doc.files.map((f) => el("tr", {}, el("td", { class: "mono" }, (f.path || "").split("/").pop()),
      el("td", {}, f.table || ""), el("td", {}, f.status, f.error ? el("div", { class: "error small" }, f.error) : ""), el("td", { class: "num" }, f.taken ?? f.rows_taken ?? ""),
      el("td", { class: "num" }, f.rejected ?? f.rows_rejected ?? "")))))),
  (doc.refused_uploads || []).map((r) => el("p", { class: "error" }, `${r.name}: ${r.reason}`)));
}

async function loadTables() {
  try {
    const [{ loads }, rejects] = await Promise.all([api("/api/loads", { query: { limit: 50 } }), api("/api/rejects", { query: { limit: 200 } })]);
    clear(document.querySelector("#loads tbody"), loads.map((l) => el("tr", {},
      el("td", { class: "mono" }, (l.path || "").split("/").pop()), el("td", {}, l.table_name || ""),
      el("td", {}, l.error ? el("span", { class: "error" }, l.error) : l.status), el("td", { class: "num" }, l.rows_taken),
      el("td", { class: "num" }, l.rows_rejected), el("td", {}, when(l.finished_at || l.started_at)))));
    clear(document.querySelector("#rejects tbody"), [
      ...rejects.rejects.map((r) => el("tr", {}, el("td", { class: "mono" }, r.file.split("/").pop()), el("td", {}, r.table),
        el("td", { class: "num" }, r.line), el("td", {}, r.reason, el("div", { class: "muted mono small" }, r.raw.slice(0, 200))))),
      ...rejects.refused_files.map((f) => el("tr", {}, el("td", { class: "mono" }, f.file.split("/").pop()), el("td", {}, ""),
        el("td", {}, ""), el("td", { class: "error" }, f.reason)))]);
  } catch (error) {
    failed(error);
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const request = new XMLHttpRequest();
  request.open("POST", "/api/loads");
  request.setRequestHeader("X-CSRF-Token", csrf());
  request.responseType = "json";
  progress.hidden = false;
  progress.value = 0;
  request.upload.addEventListener("progress", (e) => { if (e.lengthComputable) progress.value = (100 * e.loaded) / e.total; });
  request.addEventListener("load", () => {
    progress.hidden = true;
    if (request.status >= 200 && request.status < 300) {
      drawReport(request.response);
      form.reset();
      loadTables();
    } else {
      failed(new Error((request.response && request.response.detail) || request.statusText), report);
    }
  });
  request.addEventListener("error", () => { progress.hidden = true; failed(new Error(t("common.offline")), report); });
  request.send(new FormData(form));
});
loadTables();
