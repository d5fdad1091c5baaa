import { page, t } from "./common.js";

const form = document.getElementById("login-form");
const error = document.getElementById("login-error");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  error.hidden = true;
  const response = await fetch("/api/auth/login", {
    method: "POST",
    body: new URLSearchParams(new FormData(form)),
    credentials: "same-origin",
  }).catch(() => null);
  if (response && response.ok) {
    location.assign(page.params.next || "/");
    return;
  }
  let detail = t("common.offline");
  if (response) {
    const data = await response.json().catch(() => ({}));
    detail = typeof data.detail === "string" ? data.detail : response.statusText;
  }
  error.textContent = `${t("login.failed")}: ${detail}`;
  error.hidden = false;
});
