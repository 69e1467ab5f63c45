// The moderator console: the queue stays live over the queue stream; decisions go to
// the JSON API; j/k move, a approve, h hide, p pin, b ban (b twice).
import { api, format } from "./api.js";
import { refreshTimes, renderPost } from "./post.js";

const config = JSON.parse(document.getElementById("console-config").textContent);
const S = config.strings;
const base = "/api/events/" + encodeURIComponent(config.slug);
const queueEl = document.getElementById("queue");
const emptyEl = document.getElementById("queue-empty");
const statusEl = document.getElementById("console-status");
const auditEl = document.getElementById("audit");
const freezeButton = document.getElementById("freeze");
const opts = { mode: "read", strings: S, lang: config.lang, avatar: "/static/avatar.svg" };
const MAX_ITEMS = 200;

const items = new Map(); // id → { post, moderation, node }
let filter = "review";
let selectedId = null;
let banArmed = null;
let frozen = config.frozen;

function say(text) {
  statusEl.textContent = text;
}

function visible(item) {
  return filter === "all" || item.moderation.needs_review;
}

function stateText(m) {
  const parts = [S[m.state] || m.state];
  if (m.pinned) parts.push(S.pinned);
  if (m.needs_review) parts.push(S.review);
  return parts.join(" · ");
}

function button(action, label, key) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = "button small act-" + action;
  b.dataset.action = action;
  b.textContent = label;
  b.setAttribute("aria-keyshortcuts", key);
  return b;
}

function render(item) {
  const li = document.createElement("li");
  li.className = "queue-item state-" + item.moderation.state;
  if (item.moderation.needs_review) li.classList.add("needs-review");
  li.dataset.id = item.post.id;
  li.tabIndex = -1;
  const state = document.createElement("p");
  state.className = "item-state";
  state.textContent = stateText(item.moderation);
  const actions = document.createElement("div");
  actions.className = "item-actions";
  actions.append(
    button("approve", S.approve, "a"),
    button("hide", S.hide, "h"),
    item.moderation.pinned ? button("unpin", S.unpin, "p") : button("pin", S.pin, "p"),
    button("ban", S.ban, "b"),
  );
  li.append(state, renderPost(item.post, opts), actions);
  return li;
}

function upsert(post, moderation) {
  const id = String(post.id);
  const old = items.get(id);
  const item = { post, moderation };
  items.set(id, item);
  item.node = render(item);
  if (old && old.node.isConnected) old.node.replaceWith(item.node);
  else placeInOrder(item.node);
  show();
}

function placeInOrder(node) {
  // Newest first: ids sort by time.
  const id = BigInt(node.dataset.id);
  for (const other of queueEl.children) {
    if (BigInt(other.dataset.id) < id) {
      queueEl.insertBefore(node, other);
      return;
    }
  }
  queueEl.append(node);
}

function drop(id) {
  const item = items.get(String(id));
  if (!item) return;
  item.node.remove();
  items.delete(String(id));
  if (selectedId === String(id)) selectedId = null;
  show();
}

function show() {
  let shown = 0;
  for (const item of items.values()) {
    item.node.hidden = !visible(item);
    if (!item.node.hidden) shown++;
  }
  // Bounded: the oldest leave once there are many.
  while (queueEl.children.length > MAX_ITEMS) drop(queueEl.lastElementChild.dataset.id);
  emptyEl.hidden = shown > 0;
  const selected = selectedId && items.get(selectedId);
  if (!selected || selected.node.hidden) select(firstVisible());
  else markSelected();
}

function firstVisible() {
  for (const node of queueEl.children) if (!node.hidden) return node.dataset.id;
  return null;
}

function markSelected() {
  for (const node of queueEl.querySelectorAll(".is-selected")) node.classList.remove("is-selected");
  const item = selectedId && items.get(selectedId);
  if (item) item.node.classList.add("is-selected");
}

function select(id, focus = false) {
  selectedId = id;
  banArmed = null;
  markSelected();
  const item = id && items.get(id);
  if (item && focus) {
    item.node.focus({ preventScroll: true });
    item.node.scrollIntoView({ block: "nearest" });
  }
}

function move(step) {
  const nodes = [...queueEl.children].filter((n) => !n.hidden);
  if (!nodes.length) return;
  const at = nodes.findIndex((n) => n.dataset.id === selectedId);
  const next = nodes[Math.max(0, Math.min(nodes.length - 1, at + step))];
  select(next.dataset.id, true);
}

async function act(action, id) {
  const item = items.get(id);
  if (!item) return;
  try {
    if (action === "ban") {
      const acct = item.post.account.acct;
      if (banArmed !== id) {
        banArmed = id;
        say(format(S.banConfirm, acct));
        return;
      }
      banArmed = null;
      await api(base + "/bans", { method: "POST", body: { account: acct } });
      say(format(S.banned, acct));
      return;
    }
    const result = await api(base + "/posts/" + id + "/" + action, { method: "POST", body: {} });
    const { moderation, ...post } = result;
    upsert(post, moderation);
    say("");
  } catch (err) {
    say(format(S.failed, err.message));
  }
}

queueEl.addEventListener("click", (event) => {
  const li = event.target.closest(".queue-item");
  if (!li) return;
  const b = event.target.closest("button[data-action]");
  if (b) act(b.dataset.action, li.dataset.id);
  if (li.dataset.id !== selectedId) select(li.dataset.id);
});

const KEYS = { a: "approve", h: "hide", p: "pin", b: "ban" };
document.addEventListener("keydown", (event) => {
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.target.closest("input, textarea, select, [contenteditable]")) return;
  if (event.key === "j") move(1);
  else if (event.key === "k") move(-1);
  else if (KEYS[event.key] && selectedId) {
    let action = KEYS[event.key];
    if (action === "pin" && items.get(selectedId).moderation.pinned) action = "unpin";
    act(action, selectedId);
  } else return;
  event.preventDefault();
});

for (const radio of document.querySelectorAll('input[name="filter"]')) {
  radio.addEventListener("change", () => {
    filter = radio.value;
    show();
  });
}

function showFrozen() {
  freezeButton.textContent = frozen ? S.unfreeze : S.freeze;
  freezeButton.setAttribute("aria-pressed", String(frozen));
  document.body.classList.toggle("is-frozen", frozen);
}
freezeButton.addEventListener("click", async () => {
  try {
    const result = await api(base + (frozen ? "/unfreeze" : "/freeze"), { method: "POST", body: {} });
    frozen = result.frozen;
    showFrozen();
    say(frozen ? S.frozen : "");
  } catch (err) {
    say(format(S.failed, err.message));
  }
});

// The audit log, refreshed (at most every two seconds) when a decision comes in.
let auditTimer = null;
async function loadAudit() {
  auditTimer = null;
  try {
    const entries = await api(base + "/audit?limit=30");
    auditEl.replaceChildren(
      ...entries.map((e) => {
        const li = document.createElement("li");
        const time = document.createElement("time");
        time.dateTime = e.created_at;
        const who = document.createElement("strong");
        who.textContent = e.by;
        const what = [e.action, e.post_id ? "#" + e.post_id : "", e.account ? "@" + e.account : "", e.reason]
          .filter(Boolean)
          .join(" ");
        li.append(time, " ", who, " ", what);
        return li;
      }),
    );
    refreshTimes(auditEl, config.lang);
  } catch (err) {
    say(format(S.failed, err.message));
  }
}
function auditSoon() {
  if (!auditTimer) auditTimer = setTimeout(loadAudit, 2000);
}

// Rules: the form becomes the JSON body of PUT /rules.
const lines = (value) => value.split("\n").map((s) => s.trim()).filter(Boolean);
document.getElementById("rules-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const f = new FormData(event.target);
  const rules = {
    blocked_words: lines(f.get("blocked_words")),
    blocked_authors: lines(f.get("blocked_authors")),
    blocked_domains: lines(f.get("blocked_domains")),
    trusted_authors: lines(f.get("trusted_authors")),
    allowed_languages: lines(f.get("allowed_languages")),
    hide_sensitive: f.get("hide_sensitive") === "on",
    hide_replies: f.get("hide_replies") === "on",
    hide_boosts: f.get("hide_boosts") === "on",
    rate_limit: null,
  };
  if (f.get("rate_posts") && f.get("rate_seconds")) {
    rules.rate_limit = { posts: Number(f.get("rate_posts")), seconds: Number(f.get("rate_seconds")) };
  }
  try {
    await api(base + "/rules", { method: "PUT", body: { rules, moderation_mode: f.get("moderation_mode") } });
    say(S.saved);
  } catch (err) {
    say(format(S.failed, err.message));
  }
});

// Live: open the stream first, then load the list, so nothing falls in between.
function connect() {
  const source = new EventSource(base.replace("/api/events/", "/api/streams/events/") + "/queue");
  // Each (re)connection reloads the list: whatever happened while away is in it.
  source.addEventListener("open", loadQueue);
  const on = (type, handle) =>
    source.addEventListener(type, (event) => {
      try {
        handle(JSON.parse(event.data));
      } catch (err) {
        console.error("console: could not handle", type, err);
      }
    });
  on("post", (d) => upsert(d.post, d.moderation));
  on("update", (d) => upsert(d.post, d.moderation));
  on("delete", (d) => drop(d.id));
  on("remove", (d) => drop(d.id));
  on("decision", (d) => {
    const item = d.post_id && items.get(d.post_id);
    if (item) {
      upsert(item.post, { ...item.moderation, state: d.state, pinned: d.pinned, needs_review: d.needs_review });
    }
    auditSoon();
  });
  on("freeze", (d) => {
    frozen = d.frozen;
    showFrozen();
  });
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
  });
}

async function loadQueue() {
  try {
    const [all, review] = await Promise.all([
      api(base + "/timeline?state=all&limit=60"),
      api(base + "/queue?limit=100"),
    ]);
    for (const entry of [...all, ...review]) {
      const { moderation, ...post } = entry;
      upsert(post, moderation);
    }
    show();
  } catch (err) {
    say(format(S.failed, err.message));
  }
}

connect();
loadAudit();
showFrozen();
setInterval(() => refreshTimes(document, config.lang), 30000);

// Wall previews: a 1920×1080 wall scaled down to its box.
const previewSizer = new ResizeObserver((entries) => {
  for (const entry of entries) {
    const frame = entry.target.querySelector("iframe");
    if (frame) frame.style.transform = "scale(" + entry.contentRect.width / 1920 + ")";
  }
});
for (const box of document.querySelectorAll(".preview-box")) previewSizer.observe(box);
