import { api, clear, failed, page, stat, t, yuan } from "./common.js";
import { resolveRow } from "./boxes.js";

const form = document.getElementById("resolve-form");
const codes = document.getElementById("codes");
const result = document.getElementById("result");
const summary = document.getElementById("summary");
const body = document.querySelector("#boxes tbody");

async function resolve() {
  const list = codes.value.split(/[\r\n]+/).map((c) => c.trim()).filter(Boolean);
  if (!list.length) return;
  result.hidden = false;
  clear(summary, t("common.loading"));
  clear(body);
  try {
    const data = await api("/api/resolve", { method: "POST", json: { codes: list } });
    const s = data.summary;
    clear(summary,
      stat(t("common.boxes"), s.boxes),
      stat(t("common.fund_loss"), yuan(s.fund_loss)),
      Object.entries(s.statuses).filter(([, n]) => n).map(([k, n]) => stat(t(`status.${k}`), n)));
    clear(body, data.codes.map(resolveRow));
  } catch (error) {
    failed(error, summary);
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  resolve();
});
if (page.params.codes) {
  codes.value = page.params.codes;
  resolve();
}
