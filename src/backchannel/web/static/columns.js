// Attendee columns: the reader's choice of hashtags, people and events, side by side,
// newest first, kept in localStorage, live over ONE multiplexed EventSource.
import { api, format } from "./api.js";
import { refreshTimes, renderPost } from "./post.js";

const config = JSON.parse(document.getElementById("columns-config").textContent);
const S = config.strings;
const root = document.getElementById("columns");
const statusEl = document.getElementById("columns-status");
const opts = { mode: "read", strings: S, lang: config.lang, avatar: config.avatar };
const MAX_POSTS = 150; // per column: older ones leave the page (load older brings them back)
const PAGE = 20;

let columns = load();
let source = null;
let channelToColumns = new Map();

function load() {
  try {
    const saved = JSON.parse(localStorage.getItem(config.storageKey) || "null");
    if (Array.isArray(saved)) return saved.filter((c) => c && c.kind && c.name);
  } catch {
    /* a broken entry is replaced below */
  }
  return config.defaults.slice();
}

function save() {
  localStorage.setItem(config.storageKey, JSON.stringify(columns.map(({ kind, name, label }) => ({ kind, name, label }))));
}

function spec(c) {
  return (c.kind === "event" ? "wall" : c.kind) + ":" + c.name;
}

function timelineUrl(c) {
  const name = encodeURIComponent(c.name);
  if (c.kind === "event") return "/api/events/" + name + "/timeline";
  if (c.kind === "account") return "/api/accounts/" + name + "/timeline";
  return "/api/tags/" + name + "/timeline";
}

function label(c) {
  return c.label || (c.kind === "account" ? "@" : "#") + c.name;
}

function iconButton(text, title, action) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "icon-button";
  b.textContent = text;
  b.title = title;
  b.setAttribute("aria-label", title);
  b.dataset.action = action;
  return b;
}

function buildColumn(c, index) {
  const section = document.createElement("section");
  section.className = "column";
  section.dataset.index = String(index);
  const head = document.createElement("header");
  head.className = "column-head";
  const h2 = document.createElement("h2");
  h2.textContent = label(c);
  head.append(
    h2,
    iconButton("←", S.left, "left"),
    iconButton("→", S.right, "right"),
    iconButton("×", S.remove, "remove"),
  );
  const body = document.createElement("div");
  body.className = "column-body";
  body.setAttribute("aria-live", "polite");
  const empty = document.createElement("p");
  empty.className = "column-empty";
  empty.textContent = S.empty;
  body.append(empty);
  const foot = document.createElement("footer");
  foot.className = "column-foot";
  const older = document.createElement("button");
  older.type = "button";
  older.className = "button";
  older.dataset.action = "older";
  older.textContent = S.loadOlder;
  foot.append(older);
  section.append(head, body, foot);
  section.setAttribute("aria-label", label(c));
  c.section = section;
  c.body = body;
  return section;
}

function postNodes(c) {
  return c.body.querySelectorAll(":scope > .post");
}

function findPost(c, id) {
  for (const node of postNodes(c)) if (node.dataset.id === String(id)) return node;
  return null;
}

function insert(c, post, { live }) {
  const node = renderPost(post, opts);
  const existing = findPost(c, post.id);
  if (existing) {
    existing.replaceWith(node);
    return;
  }
  const id = BigInt(post.id);
  let before = null;
  for (const other of postNodes(c)) {
    if (BigInt(other.dataset.id) < id) {
      before = other;
      break;
    }
  }
  c.body.insertBefore(node, before);
  if (live) node.classList.add("is-new");
  c.body.querySelector(".column-empty").hidden = true;
  const nodes = postNodes(c);
  if (live) for (let i = nodes.length - 1; i >= MAX_POSTS; i--) nodes[i].remove();
}

function removePost(c, id) {
  const node = findPost(c, id);
  if (node) node.remove();
}

async function loadOlder(c) {
  const nodes = postNodes(c);
  const oldest = nodes.length ? nodes[nodes.length - 1].dataset.id : null;
  const url = timelineUrl(c) + "?limit=" + PAGE + (oldest ? "&max_id=" + oldest : "");
  try {
    const posts = await api(url);
    for (const p of posts) {
      const { moderation, ...post } = p;
      insert(c, post, { live: false });
    }
    if (oldest && posts.length === 0) statusEl.textContent = S.noMore;
    refreshTimes(c.body, config.lang);
  } catch (err) {
    statusEl.textContent = format(S.failed, err.message);
  }
}

function renderAll() {
  root.replaceChildren(...columns.map(buildColumn));
}

async function connect() {
  if (source) source.close();
  source = null;
  channelToColumns = new Map();
  if (!columns.length) return;
  const query = columns.map((c) => "stream=" + encodeURIComponent(spec(c))).join("&");
  let channels;
  try {
    channels = (await api("/api/web/channels?" + query)).channels;
  } catch (err) {
    statusEl.textContent = format(S.failed, err.message);
    return;
  }
  channels.forEach((channel, i) => {
    if (!channelToColumns.has(channel)) channelToColumns.set(channel, []);
    channelToColumns.get(channel).push(columns[i]);
  });
  const es = new EventSource("/api/streams?" + query);
  source = es;
  es.addEventListener("open", () => {
    statusEl.textContent = S.live;
  });
  es.addEventListener("error", () => {
    statusEl.textContent = S.offline;
    if (es.readyState === EventSource.CLOSED && source === es) setTimeout(connect, 3000);
  });
  const handle = (type) => (event) => {
    let frame = JSON.parse(event.data);
    // One channel is sent as it is; several come wrapped with their channel name.
    let channel = channels[0];
    if (channels.length > 1) {
      channel = frame.channel;
      frame = frame.data;
    }
    for (const c of channelToColumns.get(channel) || []) {
      if (type === "post" || type === "update") insert(c, frame, { live: type === "post" });
      else removePost(c, frame.id);
    }
  };
  for (const type of ["post", "update", "delete", "remove"]) es.addEventListener(type, handle(type));
}

async function refresh() {
  save();
  renderAll();
  // The stream first, then the history: a post in between is in one or both (deduplicated).
  await connect();
  await Promise.all(columns.map(loadOlder));
}

root.addEventListener("click", (event) => {
  const button = event.target.closest("button[data-action]");
  if (!button) return;
  const section = button.closest(".column");
  const index = Number(section.dataset.index);
  const action = button.dataset.action;
  if (action === "older") {
    loadOlder(columns[index]);
    return;
  }
  if (action === "remove") columns.splice(index, 1);
  const to = action === "left" ? index - 1 : action === "right" ? index + 1 : -1;
  if (to >= 0 && to < columns.length) [columns[index], columns[to]] = [columns[to], columns[index]];
  else if (action !== "remove") return;
  refresh();
});

function addColumn(kind, raw) {
  let name = raw.trim();
  if (kind === "tag") name = name.replace(/^#/, "").toLowerCase();
  if (kind === "account") name = name.replace(/^@/, "");
  if (!name) return false;
  if (columns.some((c) => c.kind === kind && c.name === name)) return false;
  columns.push({ kind, name });
  return true;
}

document.getElementById("add-column").addEventListener("submit", (event) => {
  event.preventDefault();
  const fields = event.target.elements;
  if (addColumn(fields.namedItem("kind").value, fields.namedItem("name").value)) {
    fields.namedItem("name").value = "";
    refresh();
  }
});

// /columns?add=tag:NAME (the event page's session links) adds that column once.
const params = new URLSearchParams(location.search);
for (const add of params.getAll("add")) {
  const [kind, ...rest] = add.split(":");
  if (["tag", "account", "event"].includes(kind)) addColumn(kind, rest.join(":"));
}
if (params.has("add")) history.replaceState(null, "", location.pathname);

refresh();
setInterval(() => refreshTimes(document, config.lang), 30000);
