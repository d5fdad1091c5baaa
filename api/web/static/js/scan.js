/* The scan page: the rear camera, codes decoded in the browser by zxing-wasm for instant
   feedback, each new code sent with its crop of the frame to /api/scans/reads where the
   server's trust rule decides what becomes a box. Reads wait in IndexedDB while offline. */
/* global ZXingWASM */
import { api, clear, el, page, statusChip, t } from "./common.js";
import { drug, firstSale } from "./boxes.js";
import * as outbox from "./queue.js";

const video = document.getElementById("video");
const overlay = document.getElementById("overlay");
const list = document.getElementById("reads");
const boxCount = document.getElementById("box-count");
const queueCount = document.getElementById("queue-count");
const message = document.getElementById("scan-message");
const seizureSelect = document.getElementById("seizure");
const startButton = document.getElementById("scan-start");
const stopButton = document.getElementById("scan-stop");
const photoButton = document.getElementById("scan-photo");
const frame = document.createElement("canvas");
const seen = new Map(); // code as read -> its list item
let stream = null;
let busy = false;
let flushing = false;
let audio = null;

ZXingWASM.prepareZXingModule({
  overrides: { locateFile: (path) => `/static/vendor/zxing-wasm/${path}` },
  fireImmediately: true,
});
const OPTIONS = { formats: ["Code128", "DataMatrix", "QRCode", "EAN13"], tryHarder: true, maxNumberOfSymbols: 32 };

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/sw.js").catch(() => {});
  // The worker caches pages it serves; this first visit came before it, so keep it now.
  navigator.serviceWorker.ready.then(() => caches.open("rxtrace-v1")).then((cache) => cache.add(location.href)).catch(() => {});
}

function seizure() {
  return seizureSelect.value;
}

function say(text) {
  message.textContent = text;
}

function beep() {
  if (navigator.vibrate) navigator.vibrate(60);
  try {
    audio = audio || new AudioContext();
    const osc = audio.createOscillator();
    osc.frequency.value = 1200;
    osc.connect(audio.destination);
    osc.start();
    osc.stop(audio.currentTime + 0.06);
  } catch (e) { /* no sound: the count and the list still show it */ }
}

function item(code) {
  let li = seen.get(code);
  if (!li) {
    li = el("li", { dataset: { code, state: "pending" } }, el("span", { class: "mono" }, code), " ",
      el("span", { class: "status status-pending" }, t("scan.pending")), el("div", { class: "muted small detail" }));
    seen.set(code, li);
    list.prepend(li);
    boxCount.textContent = String(seen.size);
  }
  return li;
}

async function showQueue() {
  queueCount.textContent = String(await outbox.count());
}

function crop(position) {
  const xs = [position.topLeft.x, position.topRight.x, position.bottomLeft.x, position.bottomRight.x];
  const ys = [position.topLeft.y, position.topRight.y, position.bottomLeft.y, position.bottomRight.y];
  const w = Math.max(...xs) - Math.min(...xs);
  const h = Math.max(...ys) - Math.min(...ys);
  // Generous: a linear code's outline is a thin line through its bars, and the server's
  // decoder needs the bars' full height and the quiet zones around them.
  const margin = Math.max(64, 0.6 * Math.max(w, h));
  const x0 = Math.max(0, Math.floor(Math.min(...xs) - margin));
  const y0 = Math.max(0, Math.floor(Math.min(...ys) - margin));
  const x1 = Math.min(frame.width, Math.ceil(Math.max(...xs) + margin));
  const y1 = Math.min(frame.height, Math.ceil(Math.max(...ys) + margin));
  const out = document.createElement("canvas");
  out.width = x1 - x0;
  out.height = y1 - y0;
  out.getContext("2d").drawImage(frame, x0, y0, out.width, out.height, 0, 0, out.width, out.height);
  return out.toDataURL("image/png").split(",")[1];
}

function outline(results) {
  overlay.width = frame.width;
  overlay.height = frame.height;
  const g = overlay.getContext("2d");
  g.clearRect(0, 0, overlay.width, overlay.height);
  g.lineWidth = Math.max(3, frame.width / 300);
  g.strokeStyle = "#12b76a";
  for (const r of results) {
    const p = r.position;
    g.beginPath();
    g.moveTo(p.topLeft.x, p.topLeft.y);
    g.lineTo(p.topRight.x, p.topRight.y);
    g.lineTo(p.bottomRight.x, p.bottomRight.y);
    g.lineTo(p.bottomLeft.x, p.bottomLeft.y);
    g.closePath();
    g.stroke();
  }
}

async function tick() {
  if (!stream) return;
  if (!busy && video.readyState >= 2 && video.videoWidth) {
    busy = true;
    try {
      frame.width = video.videoWidth;
      frame.height = video.videoHeight;
      const g = frame.getContext("2d", { willReadFrequently: true });
      g.drawImage(video, 0, 0);
      const results = (await ZXingWASM.readBarcodes(g.getImageData(0, 0, frame.width, frame.height), OPTIONS))
        .filter((r) => r.isValid && r.text);
      outline(results);
      for (const r of results) {
        const known = seen.get(r.text);
        if (known && known.dataset.state !== "retry") continue;
        if (known) known.dataset.state = "pending"; // the server could not confirm it: a new frame
        else beep();
        item(r.text);
        await outbox.put({ seizure: seizure(), code: r.text, symbology: r.format, image: crop(r.position) });
      }
      if (results.length) {
        await showQueue();
        flush();
      }
    } catch (error) {
      say(`${t("common.error")}: ${error.message || error}`);
    } finally {
      busy = false;
    }
  }
  setTimeout(tick, 120);
}

async function resolveAccepted() {
  const codes = [...seen.entries()].filter(([, li]) => li.dataset.state === "accepted").map(([code]) => code);
  if (!codes.length) return;
  try {
    const data = await api("/api/resolve", { method: "POST", json: { codes } });
    for (const box of data.codes) {
      const li = seen.get(box.code);
      if (!li) continue;
      const sale = firstSale(box);
      li.dataset.state = "resolved";
      li.dataset.status = box.status;
      clear(li, el("span", { class: "mono" }, box.code), " ", statusChip(box.status),
        el("div", { class: "muted small detail" }, [drug(box), sale ? sale.institution || sale.fixmedins_code : ""].filter(Boolean).join(" · ")));
    }
  } catch (error) {
    say(`${t("common.error")}: ${error.message}`);
  }
}

const attempts = new Map();

function settle(code, state, reason) {
  const li = seen.get(code) || item(code);
  if (state === "refused" && (attempts.get(code) || 0) < 3 && stream) {
    // Another frame may show it sharper: let the next read of it go to the server again.
    attempts.set(code, (attempts.get(code) || 0) + 1);
    li.dataset.state = "retry";
    return;
  }
  li.dataset.state = state;
  const chip = li.querySelector(".status");
  if (state === "refused") {
    chip.className = "status status-refused";
    chip.textContent = t("scan.refused");
    li.querySelector(".detail").textContent = reason || "";
  } else if (state === "accepted") {
    chip.textContent = t("scan.sent");
  }
}

async function flush() {
  if (flushing) return;
  flushing = true;
  try {
    for (;;) {
      const waiting = (await outbox.all()).filter((r) => r.seizure);
      if (!waiting.length) break;
      const batch = waiting.slice(0, 20);
      let answer;
      try {
        answer = await api("/api/scans/reads", { method: "POST", json: {
          seizure: batch[0].seizure,
          reads: batch.filter((r) => r.seizure === batch[0].seizure).map(({ code, symbology, image }) => ({ code, symbology, image })),
        } });
      } catch (error) {
        if (error.status === 0) break; // offline: keep them, try again when the connection returns
        if (error.status === 401) break;
        say(`${t("common.error")}: ${error.message}`);
        // The server refused the whole batch (for example an unknown seizure): keep the reads.
        break;
      }
      const sent = batch.filter((r) => r.seizure === batch[0].seizure);
      await outbox.remove(sent.map((r) => r.id));
      for (const read of sent) {
        if (answer.boxes.some((b) => b.code === read.code)) settle(read.code, "accepted");
      }
      for (const r of answer.client_rejected || []) settle(r.code, "refused", r.reason);
      await resolveAccepted();
      await showQueue();
    }
  } finally {
    flushing = false;
    showQueue();
  }
}

async function start() {
  if (!seizure()) { say(t("scan.no_seizure")); return; }
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      audio: false, video: { facingMode: { ideal: "environment" }, width: { ideal: 1920 }, height: { ideal: 1080 } },
    });
  } catch (error) {
    say(`${t("scan.no_camera")}: ${error.message}`);
    return;
  }
  video.srcObject = stream;
  await video.play();
  startButton.hidden = true;
  stopButton.hidden = false;
  say("");
  tick();
}

function stop() {
  if (stream) stream.getTracks().forEach((track) => track.stop());
  stream = null;
  startButton.hidden = false;
  stopButton.hidden = true;
}

async function photo() {
  if (!seizure()) { say(t("scan.no_seizure")); return; }
  if (!stream) { say(t("scan.start")); return; }
  const track = stream.getVideoTracks()[0];
  let blob;
  if ("ImageCapture" in window) {
    try { blob = await new ImageCapture(track).takePhoto(); } catch (e) { blob = null; }
  }
  if (!blob) {
    frame.width = video.videoWidth;
    frame.height = video.videoHeight;
    frame.getContext("2d").drawImage(video, 0, 0);
    blob = await new Promise((resolve) => frame.toBlob(resolve, "image/jpeg", 0.95));
  }
  const form = new FormData();
  form.append("files", blob, "photo.jpg");
  say(t("common.loading"));
  try {
    const answer = await api("/api/scans", { method: "POST", form, query: { seizure: seizure() } });
    for (const b of answer.boxes) { item(b.code); settle(b.code, "accepted"); }
    await resolveAccepted();
    say(`${answer.boxes.length} ${t("common.boxes")}`);
  } catch (error) {
    say(`${t("common.error")}: ${error.message}`);
  }
}

async function init() {
  try {
    const { seizures } = await api("/api/seizures");
    clear(seizureSelect, el("option", { value: "" }, "—"),
      seizures.map((s) => el("option", { value: s.seizure_id }, `${s.seizure_id} ${s.address || ""}`)));
  } catch (error) {
    // Offline: the page came from the service worker's cache; scan into the seizure it names.
    if (page.params.seizure) seizureSelect.append(el("option", { value: page.params.seizure }, page.params.seizure));
  }
  api("/api/cases").then(({ cases }) => {
    clear(document.getElementById("case-ids"), cases.map((c) => el("option", { value: c.case_id })));
  }).catch(() => {});
  if (page.params.seizure) seizureSelect.value = page.params.seizure;
  showQueue();
  flush();
}

document.getElementById("new-seizure-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const fields = Object.fromEntries(new FormData(form));
  try {
    const made = await api("/api/seizures", { method: "POST", json: fields });
    seizureSelect.append(el("option", { value: made.seizure_id }, `${made.seizure_id} (${made.case_id})`));
    seizureSelect.value = made.seizure_id;
    document.getElementById("new-seizure").open = false;
    form.reset();
    say("");
  } catch (error) {
    say(`${t("common.error")}: ${error.message}`);
  }
});
startButton.addEventListener("click", start);
stopButton.addEventListener("click", stop);
photoButton.addEventListener("click", photo);
addEventListener("online", flush);
// navigator.onLine only says a network interface is up, not that the server answers (an
// isolated unit network has no internet either): retry on a timer whatever it says.
setInterval(flush, 5000);
init();
