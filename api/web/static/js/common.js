// What every page shares: its data block, the words of its language, the API client (with the
// CSRF header the server asks of cookie requests that change data), and small DOM helpers that
// set text, never HTML, so data can never turn into markup.

export const page = JSON.parse(document.getElementById("rx-page").textContent);

export function t(key) {
  const word = page.t[key];
  return word === undefined ? key : word;
}

export function can(permission) {
  return page.permissions.includes(permission);
}

function cookie(name) {
  const found = document.cookie.split("; ").find((c) => c.startsWith(name + "="));
  return found ? decodeURIComponent(found.slice(name.length + 1)) : "";
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export async function api(path, { method = "GET", json, form, query } = {}) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
  }
  const headers = { Accept: "application/json" };
  let body;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form;
  }
  if (method !== "GET") headers["X-CSRF-Token"] = cookie("rxtrace_csrf");
  let response;
  try {
    response = await fetch(url, { method, headers, body, credentials: "same-origin" });
  } catch (error) {
    throw new ApiError(0, t("common.offline"));
  }
  if (response.status === 401 && !location.pathname.startsWith("/login")) {
    location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search));
    throw new ApiError(401, t("login.title"));
  }
  const type = response.headers.get("content-type") || "";
  const data = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const detail = data && data.detail ? data.detail : response.statusText;
    throw new ApiError(response.status, typeof detail === "string" ? detail : JSON.stringify(detail));
  }
  return data;
}

// el("td", {class: "num", dataset: {code: "x"}}, "text", childNode, ...)
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export function clear(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
  return node;
}

export function statusChip(status) {
  return el("span", { class: `status status-${status}`, title: t(`status_help.${status}`) }, t(`status.${status}`));
}

export function yuan(value) {
  if (value === null || value === undefined || value === "") return "";
  const n = Number(value);
  return Number.isFinite(n) ? n.toLocaleString(page.lang, { minimumFractionDigits: 2, maximumFractionDigits: 2 }) : String(value);
}

export function when(iso) {
  if (!iso) return "";
  return String(iso).replace("T", " ").replace(/(:\d\d)(\.\d+)?([+-]\d\d:\d\d|Z)?$/, "$1");
}

export function stat(label, value) {
  return el("div", { class: "stat" }, el("span", { class: "v" }, value), el("span", { class: "k" }, label));
}

export function toast(message) {
  const box = document.getElementById("toast");
  box.textContent = message;
  box.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { box.hidden = true; }, 5000);
}

export function rows(tbody, items, render, emptyColumns) {
  if (!items.length) {
    clear(tbody, el("tr", {}, el("td", { colspan: emptyColumns, class: "muted" }, t("common.none"))));
    return;
  }
  clear(tbody, items.map(render));
}

export function failed(error, where) {
  const message = `${t("common.error")}: ${error.message}`;
  if (where) clear(where, el("p", { class: "error", role: "alert" }, message));
  else toast(message);
}

function shell() {
  const logout = document.getElementById("logout");
  if (logout) {
    logout.addEventListener("click", async () => {
      try { await api("/api/auth/logout", { method: "POST" }); } catch (e) { /* ended already */ }
      location.assign("/login");
    });
  }
  const toggle = document.getElementById("menu-toggle");
  if (toggle) {
    toggle.addEventListener("click", () => {
      const nav = document.getElementById("nav");
      const open = nav.classList.toggle("open");
      toggle.setAttribute("aria-expanded", String(open));
    });
  }
  const state = document.getElementById("net-state");
  const show = () => { state.hidden = navigator.onLine; };
  addEventListener("online", show);
  addEventListener("offline", show);
  show();
}

shell();
