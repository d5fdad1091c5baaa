// One box as the pages show it, the same words as the dossier: its status, drug, the sales
// that paid for it (card, institution, doctor, day) and the fund's money.
import { el, statusChip, t, when, yuan } from "./common.js";

export function why(box) {
  const parts = [];
  if (box.parse_error) parts.push(box.parse_error);
  if (box.clone_reasons && box.clone_reasons.length) parts.push(box.clone_reasons.join("; "));
  if (box.repeat_uploads && box.repeat_uploads.length) {
    parts.push(t("common.repeat_upload") + box.repeat_uploads.join(", "));
  }
  if (box.via_case) parts.push(`via ${box.via_case}`);
  return parts.join(" · ");
}

export function drug(box) {
  const p = box.product;
  return p ? [p.name, p.spec].filter(Boolean).join(" ") : "";
}

export function firstSale(box) {
  return (box.sales || []).find((s) => s.sel_retn_type === "sale") || (box.sales || [])[0] || null;
}

export function salesList(box) {
  if (!box.sales || !box.sales.length) return "";
  return el("ul", { class: "plain" }, box.sales.map((s) => el("li", {},
    `${when(s.time)} · ${s.institution || s.fixmedins_code} · ${t("common.card")} ${s.psn_no || ""}`,
    s.dr_code ? ` · ${t("common.doctor")} ${s.dr_code}` : "",
    ` · ${s.sel_retn_type === "sale" ? "" : t("event.return") + " · "}${yuan(s.hifp_pay)}`,
    el("span", { class: "muted mono" }, ` ${s.setl_id}`))));
}

export function resolveRow(box) {
  const explanation = why(box);
  return el("tr", { dataset: { code: box.code, status: box.status } },
    el("td", { class: "mono" }, box.code),
    el("td", {}, statusChip(box.status), explanation ? el("div", { class: "muted small" }, explanation) : ""),
    el("td", {}, drug(box)),
    el("td", {}, salesList(box)),
    el("td", { class: "num" }, yuan(box.fund_loss)));
}
