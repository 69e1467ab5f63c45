// The wall: live posts over one EventSource, resumed from the last event id after any
// drop, with a bounded number of posts in the page so it can run for days.
import { refreshTimes, renderPost } from "./post.js";

const config = JSON.parse(document.getElementById("wall-config").textContent);
const postsEl = document.getElementById("posts");
const pinnedEl = document.getElementById("pinned");
const statusEl = document.getElementById("status");
const emptyEl = postsEl.querySelector(".wall-empty");
const opts = { mode: "wall", strings: config.strings, avatar: config.avatar, lang: config.lang };
const filterTags = new Set(config.tags || []);
const SPOTLIGHT_SECONDS = 12;

let lastEventId = String(config.cursor || 0);
let source = null;
let retryMs = 1000;

function postsIn(container) {
  return container.querySelectorAll(":scope > .post");
}

function find(container, id) {
  for (const node of postsIn(container)) if (node.dataset.id === id) return node;
  return null;
}

function wanted(post) {
  if (filterTags.size === 0) return true;
  return (post.tags || []).some((tag) => filterTags.has(tag));
}

function trim() {
  const nodes = postsIn(postsEl);
  for (let i = nodes.length - 1; i >= config.maxPosts; i--) nodes[i].remove();
}

function addPost(post) {
  if (!wanted(post)) return;
  const node = renderPost(post, opts);
  const existing = find(postsEl, node.dataset.id);
  if (existing) {
    existing.replaceWith(node);
    return;
  }
  node.classList.add("is-new");
  node.addEventListener("animationend", () => node.classList.remove("is-new"), { once: true });
  postsEl.prepend(node);
  if (emptyEl) emptyEl.hidden = true;
  trim();
  if (config.layout === "spotlight") spot(node);
}

function updatePost(post) {
  for (const container of [postsEl, pinnedEl]) {
    const existing = find(container, String(post.id));
    if (existing) {
      const node = renderPost(post, opts);
      node.className = existing.className.replace("is-new", "").trim();
      existing.replaceWith(node);
    }
  }
}

function removePost(id) {
  for (const container of [postsEl, pinnedEl]) {
    const existing = find(container, String(id));
    if (existing) existing.remove();
  }
  pinnedEl.hidden = postsIn(pinnedEl).length === 0;
  if (config.layout === "spotlight" && !postsEl.querySelector(".is-spot")) spot(postsIn(postsEl)[0]);
}

function pin(post) {
  const existing = find(pinnedEl, String(post.id));
  const node = renderPost(post, opts);
  if (existing) existing.replaceWith(node);
  else pinnedEl.prepend(node);
  pinnedEl.hidden = false;
}

function unpin(id) {
  const existing = find(pinnedEl, String(id));
  if (existing) existing.remove();
  pinnedEl.hidden = postsIn(pinnedEl).length === 0;
}

const handlers = {
  post: addPost,
  update: updatePost,
  delete: (data) => removePost(data.id),
  remove: (data) => removePost(data.id),
  pin,
  unpin: (data) => unpin(data.id),
  freeze: (data) => document.body.classList.toggle("is-frozen", Boolean(data.frozen)),
};

function connect() {
  const url = config.stream + "?last_event_id=" + encodeURIComponent(lastEventId);
  source = new EventSource(url);
  source.addEventListener("open", () => {
    statusEl.hidden = true;
    retryMs = 1000;
  });
  for (const [type, handle] of Object.entries(handlers)) {
    source.addEventListener(type, (event) => {
      if (event.lastEventId) lastEventId = event.lastEventId;
      try {
        handle(JSON.parse(event.data));
      } catch (err) {
        console.error("wall: could not show a", type, "event", err);
      }
    });
  }
  source.addEventListener("error", () => {
    statusEl.hidden = false;
    // The browser retries by itself after a network error; after an HTTP error it
    // gives up (CLOSED), so we open a new stream from the last event we saw.
    if (source.readyState === EventSource.CLOSED) {
      source.close();
      setTimeout(connect, retryMs);
      retryMs = Math.min(retryMs * 2, 30000);
    }
  });
}

// Spotlight: one post at a time, the newest first, then round the recent ones.
let spotTimer = null;
function spot(node) {
  for (const other of postsEl.querySelectorAll(".is-spot")) other.classList.remove("is-spot");
  if (!node) return;
  node.classList.add("is-spot");
  clearInterval(spotTimer);
  spotTimer = setInterval(() => {
    const current = postsEl.querySelector(".post.is-spot");
    let next = current && current.nextElementSibling;
    while (next && !next.classList.contains("post")) next = next.nextElementSibling;
    spot(next || postsIn(postsEl)[0]);
  }, SPOTLIGHT_SECONDS * 1000);
}

// The current and next session follow the clock without a reload.
function showSession(selector, session, withTime) {
  const box = document.querySelector(selector);
  if (!box) return;
  box.hidden = !session;
  if (!session) return;
  box.querySelector(".s-title").textContent = session.title;
  box.querySelector(".s-room").textContent = session.room || "";
  box.querySelector(".s-tag").textContent = session.tag ? "#" + session.tag : "";
  const time = box.querySelector(".s-time");
  if (withTime && time) {
    time.textContent = new Intl.DateTimeFormat(config.lang, {
      hour: "2-digit",
      minute: "2-digit",
      timeZone: config.timezone,
    }).format(new Date(session.starts_at));
  }
}

function refreshSessions() {
  const now = Date.now();
  const at = (value) => Date.parse(value || "");
  const running = config.schedule.filter((s) => at(s.starts_at) <= now && now < at(s.ends_at));
  const upcoming = config.schedule.filter((s) => at(s.starts_at) > now);
  running.sort((a, b) => at(b.starts_at) - at(a.starts_at));
  upcoming.sort((a, b) => at(a.starts_at) - at(b.starts_at));
  showSession(".session-now", running[0], false);
  showSession(".session-next", upcoming[0], true);
}

refreshTimes(document, config.lang);
setInterval(() => refreshTimes(document, config.lang), 20000);
setInterval(refreshSessions, 30000);
if (config.layout === "spotlight") spot(postsIn(postsEl)[0]);
connect();
