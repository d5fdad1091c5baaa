import { api, clear, el, failed, t, toast, when } from "./common.js";

const form = document.getElementById("user-form");
const tbody = document.querySelector("#users tbody");

async function load() {
  try {
    const { users } = await api("/api/users");
    clear(tbody, users.map((u) => el("tr", { dataset: { user: u.name } },
      el("td", {}, u.name), el("td", {}, t(`role.${u.role}`)),
      el("td", {}, u.disabled ? t("users.disabled") : t("users.active")), el("td", {}, when(u.created_at)),
      el("td", {}, u.disabled ? "" : el("button", { type: "button", onclick: () => disable(u.name) }, t("users.disable"))))));
  } catch (error) {
    failed(error, tbody);
  }
}

async function disable(name) {
  try {
    await api(`/api/users/${encodeURIComponent(name)}/disable`, { method: "POST" });
    load();
  } catch (error) {
    failed(error);
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const data = new FormData(form);
  try {
    await api("/api/users", { method: "POST", json: Object.fromEntries(data) });
    form.reset();
    toast(`${t("users.add")}: ${data.get("name")}`);
    load();
  } catch (error) {
    failed(error);
  }
});
load();
