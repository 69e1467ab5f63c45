// Calls to the JSON API from our pages. Writes signed in with the page session carry
// the page's CSRF token (see backchannel/kit/csrf.py).
const meta = document.querySelector('meta[name="csrf-token"]');
const csrfToken = meta ? meta.content : "";

export async function api(url, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    throw new Error((data && data.error) || response.status + " " + response.statusText);
  }
  return data;
}

export function format(template, value) {
  return template.replace("%s", value);
}
