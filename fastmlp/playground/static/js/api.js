// The JSON API of fastmlp's playground server (see server.py). Every call goes through one queue, so a
// configuration change never overtakes or interleaves with a training step of the same tab.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let queue = Promise.resolve();

function serial(task) {
  const run = queue.then(task, task);
  queue = run.catch(() => {}); // one failure must not block the calls after it
  return run;
}

async function request(method, path, body, { raw = false, text = false } = {}) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.body = raw ? body : JSON.stringify(body);
    init.headers["Content-Type"] = raw ? "text/csv" : "application/json";
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    throw new ApiError(0, "the playground server does not answer (was it stopped?)");
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      message = (await response.json()).error || message;
    } catch (err) { /* not JSON: keep the status line */ }
    throw new ApiError(response.status, message);
  }
  return text ? response.text() : response.json();
}

const q = (sid) => `session=${encodeURIComponent(sid)}`;

export const api = {
  info: () => serial(() => request("GET", "/api/info")),
  createSession: (config) => serial(() => request("POST", "/api/session", { config })),
  configure: (sid, config) => serial(() => request("POST", "/api/configure", { session: sid, config })),
  reset: (sid) => serial(() => request("POST", "/api/reset", { session: sid })),
  step: (sid, epochs) => serial(() => request("POST", "/api/step", { session: sid, epochs })),
  state: (sid) => serial(() => request("GET", `/api/state?${q(sid)}`)),
  upload: (sid, csvText) => serial(() => request("POST", `/api/upload?${q(sid)}`, csvText, { raw: true })),
  snippet: (sid) => serial(() => request("GET", `/api/export/snippet?${q(sid)}`, undefined, { text: true })),
  modelUrl: (sid) => `/api/export/model?${q(sid)}`,
  // On leaving the page: a beacon survives the unload, a fetch may not.
  close: (sid) => navigator.sendBeacon("/api/close", JSON.stringify({ session: sid })),
};
