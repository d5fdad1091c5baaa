// The scan page's outbox in IndexedDB: every read waits here, with its evidence image, until
// the server has answered for it, so a dropped connection (or a closed tab) loses nothing.
const DB = "rxtrace-scan";
const STORE = "reads";

function open() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: "id", autoIncrement: true });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function run(mode, work) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const result = work(tx.objectStore(STORE));
    tx.oncomplete = () => { db.close(); resolve(result && "result" in result ? result.result : undefined); };
    tx.onerror = () => { db.close(); reject(tx.error); };
  });
}

export function put(read) {
  return run("readwrite", (store) => store.add(read));
}

export function all() {
  return run("readonly", (store) => store.getAll());
}

export function count() {
  return run("readonly", (store) => store.count());
}

export function remove(ids) {
  return run("readwrite", (store) => { ids.forEach((id) => store.delete(id)); });
}
