// An event's sources: asks the connectors API for fresh health every few seconds and
// updates the table in place (status, last post, lag, counts, last error). The page
// works without it; a reload shows added or removed sources.
import { api, format } from "./api.js";

const config = JSON.parse(document.getElementById("sources-config").textContent);
const S = config.strings;
const url = "/api/events/" + encodeURIComponent(config.slug) + "/connectors";
const note = document.getElementById("refresh-status");
const STATUSES = ["connected", "polling", "error", "unauthorized", "stopped", "starting"];
const UNITS = [
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
  ["second", 1],
];

const when = new Intl.DateTimeFormat(config.lang, {
  dateStyle: "short",
  timeStyle: "short",
  timeZone: config.timezone,
});

function time(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : when.format(date);
}

// The largest unit that reaches 1.5 of it, as the server's Babel does.
function lag(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 1) return S.under_a_second;
  for (const [unit, size] of UNITS) {
    if (seconds / size >= 1.5 || unit === "second") {
      return new Intl.NumberFormat(config.lang, {
        style: "unit",
        unit,
        unitDisplay: "short",
        maximumFractionDigits: 0,
      }).format(Math.round(seconds / size));
    }
  }
  return "—";
}

function field(body, name) {
  return body.querySelector('[data-field="' + name + '"]');
}

function show(connector) {
  const body = document.querySelector('tbody.source[data-id="' + CSS.escape(connector.id) + '"]');
  if (!body) return;
  const health = connector.health;
  const status = field(body, "status");
  for (const name of STATUSES) status.classList.remove("status-" + name);
  status.classList.add("status-" + health.status);
  status.textContent = S["status_" + health.status] || health.status;

  const lastPost = field(body, "last_post");
  lastPost.textContent = "";
  if (health.last_post_at) {
    const t = document.createElement("time");
    t.dateTime = health.last_post_at;
    t.textContent = time(health.last_post_at);
    lastPost.append(t);
  } else {
    lastPost.textContent = "—";
  }
  field(body, "lag").textContent = lag(health.lag_seconds);
  const counts = health.counts || {};
  for (const name of ["kept", "dropped", "malformed"]) {
    field(body, name).textContent = String(counts[name] || 0);
  }
  const errorRow = body.querySelector(".error-row");
  field(body, "last_error").textContent = health.last_error || "";
  field(body, "last_error_at").textContent = health.last_error_at
    ? "(" + time(health.last_error_at) + ")"
    : "";
  errorRow.hidden = !health.last_error;
}

async function refresh() {
  if (document.hidden) return;
  try {
    const connectors = await api(url);
    connectors.forEach(show);
    note.textContent = "";
  } catch (error) {
    note.textContent = format(S.stale, error.message);
  }
}

setInterval(refresh, config.refreshSeconds * 1000);
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) refresh();
});
