// genkit serve's page: plain JavaScript, no libraries. Talks to the JSON API of the same server (docs/serve.md).
"use strict";

const $ = (id) => document.getElementById(id);
const OPTIONS = ["candidates", "keep", "temperature", "top_k", "top_p", "guidance", "seed"];
const FLOATS = new Set(["temperature", "top_p", "guidance"]);
let current = null; // {controller, id}

function setMessage(text, isError) {
  $("message").textContent = text;
  $("message").className = isError ? "error" : "";
}

function setBusy(busy) {
  $("draw").disabled = busy;
  $("complete").disabled = busy;
  $("cancel").disabled = !busy;
  $("progress").hidden = !busy;
  if (!busy) $("progress").value = 0;
}

function clearInvalid() {
  document.querySelectorAll(".invalid").forEach((el) => el.classList.remove("invalid"));
}

function showError(error) {
  setMessage(error.error || "request failed", true);
  const field = error.field && $(error.field);
  if (field) field.classList.add("invalid");
}

async function loadInfo() {
  const info = await (await fetch("/api/info")).json();
  for (const name of OPTIONS) {
    const value = info.defaults[name];
    $(name).value = value === null ? "" : value;
  }
  $("candidates").max = info.limits.candidates;
  $("prompt").maxLength = info.limits.prompt_chars;
  $("rows").min = info.limits.rows[0];
  $("rows").max = info.limits.rows[1];
  $("rows").value = Math.floor(info.grid[0] / 2);
  const reranker = info.reranker ? "reranked" : "no reranker: first drawn";
  $("run-info").textContent =
    `run ${info.run} · ${info.image_size} px · ${info.grid[0]}×${info.grid[1]} tokens · ${reranker}`;
}

// The options as typed: an empty top-k / top-p is "off" (null); other empty fields are left to the run's defaults.
function readOptions() {
  const options = {};
  for (const name of OPTIONS) {
    const text = $(name).value.trim();
    if (text === "") {
      if (name === "top_k" || name === "top_p") options[name] = null;
      continue;
    }
    options[name] = FLOATS.has(name) ? parseFloat(text) : Number(text);
  }
  return options;
}

function request(kind) {
  const prompt = $("prompt").value;
  const options = readOptions();
  if (kind === "sample") {
    return {
      url: "/api/sample/stream",
      init: { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ prompt, ...options }) },
    };
  }
  const form = new FormData();
  const file = $("image").files[0];
  if (file) form.append("image", file);
  form.append("prompt", prompt);
  if ($("rows").value.trim() !== "") form.append("rows", $("rows").value.trim());
  // a form has no null: "off" turns top-k / top-p off
  for (const [name, value] of Object.entries(options)) form.append(name, value === null ? "off" : String(value));
  return { url: "/api/complete/stream", init: { method: "POST", body: form } };
}

async function run(kind) {
  clearInvalid();
  if (kind === "complete" && !$("image").files[0]) {
    showError({ error: "image: choose an image file to complete", field: "image" });
    return;
  }
  const controller = new AbortController();
  current = { controller, id: null };
  setBusy(true);
  setMessage(kind === "sample" ? "sending…" : "uploading…");
  try {
    const { url, init } = request(kind);
    const response = await fetch(url, { ...init, signal: controller.signal });
    if (!response.ok) {
      const retry = response.headers.get("Retry-After");
      const error = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
      if (retry) error.error += ` (Retry-After: ${retry} s)`;
      showError(error);
      return;
    }
    await readEvents(response.body, handleEvent);
  } catch (err) {
    if (err.name === "AbortError") setMessage("cancelled");
    else setMessage(`connection failed: ${err.message}`, true);
  } finally {
    current = null;
    setBusy(false);
  }
}

async function readEvents(body, onEvent) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      let data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      onEvent(event, data ? JSON.parse(data) : null);
    }
  }
}

function handleEvent(event, data) {
  if (current && data && data.id) current.id = data.id;
  if (event === "queued") {
    setMessage(data.position > 0 ? `waiting: ${data.position} ahead` : "starting…");
  } else if (event === "progress") {
    $("progress").max = Math.max(1, data.total);
    $("progress").value = data.done;
    setMessage(`drawing: step ${data.done} of ${data.total}`);
  } else if (event === "result") {
    render(data);
    setMessage(`done in ${data.seconds.toFixed(2)} s` + (data.warnings.length ? ` · ${data.warnings.join("; ")}` : ""));
    loadRecent();
  } else if (event === "cancelled") {
    setMessage("cancelled");
  } else if (event === "error") {
    showError(data);
  }
}

async function cancel() {
  if (!current) return;
  const { controller, id } = current;
  if (id) await fetch(`/api/jobs/${id}/cancel`, { method: "POST" }).catch(() => null);
  controller.abort();
}

function render(result) {
  const grid = $("grid");
  grid.replaceChildren();
  const what = result.kind === "complete" ? `completed from ${result.rows} rows` : "drawn";
  $("result-title").textContent =
    `“${result.prompt}”: best ${result.images.length} of ${result.candidates} ${what}, seed ${result.options.seed}`;
  $("grid-download").href = result.grid_url;
  $("grid-download").download = `genkit-${result.id.slice(0, 8)}.png`;
  $("result-head").hidden = false;
  for (const image of result.images) {
    const figure = document.createElement("figure");
    figure.className = "tile";
    const img = document.createElement("img");
    img.src = image.url;
    img.alt = `${result.prompt} #${image.rank}`;
    const caption = document.createElement("figcaption");
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = image.score === null ? "no score" : `score ${image.score.toFixed(3)}`;
    const link = document.createElement("a");
    link.href = image.url;
    link.download = `genkit-${result.id.slice(0, 8)}-${image.rank}.png`;
    link.textContent = "PNG";
    caption.append(`#${image.rank} · `, score, ` · cand ${image.candidate} · `, link);
    figure.append(img, caption);
    grid.append(figure);
  }
}

async function loadRecent() {
  const results = await (await fetch("/api/recent")).json();
  const box = $("recent");
  box.replaceChildren();
  if (!results.length) box.innerHTML = '<span class="muted">nothing yet</span>';
  for (const result of results) {
    const button = document.createElement("button");
    button.type = "button";
    button.title = result.prompt;
    const img = document.createElement("img");
    img.src = result.images[0].url;
    img.alt = "";
    const label = document.createElement("span");
    label.textContent = (result.kind === "complete" ? "◧ " : "") + result.prompt;
    button.append(img, label);
    button.addEventListener("click", () => render(result));
    box.append(button);
  }
}

$("sample-form").addEventListener("submit", (event) => {
  event.preventDefault();
  run("sample");
});
$("complete").addEventListener("click", () => run("complete"));
$("cancel").addEventListener("click", cancel);
loadInfo().then(loadRecent).catch((err) => setMessage(`cannot reach the server: ${err.message}`, true));
