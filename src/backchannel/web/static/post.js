// One post as a DOM element: the script twin of post_card() in templates/_post.html.
// Every piece of plain text (names, handles, content warnings, alt text) goes in with
// textContent; only `content`, which the server sanitised, is parsed as HTML.

const SOURCE_LABELS = { mastodon: "Fediverse", activitypub: "Fediverse", bluesky: "Bluesky" };

export function safeUrl(value) {
  if (typeof value !== "string" || value === "") return null;
  try {
    const url = new URL(value);
    return url.protocol === "https:" || url.protocol === "http:" ? url.href : null;
  } catch {
    return null;
  }
}

// Remote images come through the server's /media/ proxy: the server sends the proxied
// path beside the original URL (and the original alone only if it proxies nothing).
function imageSrc(proxied, original) {
  if (typeof proxied === "string" && proxied.startsWith("/media/")) return proxied;
  return safeUrl(proxied) || safeUrl(original);
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

function sourceLabel(source, strings) {
  if (SOURCE_LABELS[source]) return SOURCE_LABELS[source];
  return source === "feed" ? strings.blog || "Blog" : strings.here || "Here";
}

function sourceClass(source) {
  return "source-" + String(source || "local").replace(/[^a-z]/g, "");
}

// opts: { mode: "wall" | "read", strings, avatar (fallback URL), lang }
export function renderPost(p, opts) {
  const strings = opts.strings || {};
  const account = p.account || {};
  const article = el("article", "post " + sourceClass(p.source));
  if (p.sensitive) article.classList.add("is-sensitive");
  if (p.spoiler_text) article.classList.add("has-cw");
  article.dataset.id = String(p.id);

  const head = el("header", "post-head");
  const avatar = el("img", "avatar");
  avatar.src = imageSrc(account.avatar_proxy_url, account.avatar) || opts.avatar || "";
  // An avatar the proxy cannot get shows the default one, not a broken image.
  if (opts.avatar) avatar.addEventListener("error", () => (avatar.src = opts.avatar), { once: true });
  avatar.alt = "";
  avatar.width = 48;
  avatar.height = 48;
  avatar.referrerPolicy = "no-referrer";
  const who = el("span", "who");
  who.append(el("span", "name", account.display_name || account.username || ""));
  who.append(" ");
  who.append(el("span", "handle", "@" + (account.acct || "")));
  head.append(avatar, " ", who, " ", el("span", "badge source-badge", sourceLabel(p.source, strings)));
  article.append(head);

  const cw = p.spoiler_text ? el(opts.mode === "wall" ? "p" : "summary", "cw") : null;
  if (cw) {
    cw.append(el("span", "cw-label", strings.cw || "Content warning"), " ", el("span", "cw-text", p.spoiler_text));
  }
  if (cw && opts.mode === "wall") {
    // On a wall nobody can click: the warning is shown and the body is not.
    cw.setAttribute("role", "note");
    article.append(cw);
  } else {
    const holder = cw ? el("details", "cw-details") : article;
    if (cw) holder.append(cw);
    if (p.title) holder.append(el("h3", "post-title", p.title));
    const content = el("div", "content");
    if (p.language) content.lang = p.language;
    content.innerHTML = p.content || "";
    holder.append(content);
    const images = (p.media_attachments || []).filter((m) => m.type === "image" || m.type === "gifv");
    if (images.length) {
      const media = el("div", "media");
      for (const m of images) {
        const src = imageSrc(m.preview_proxy_url, m.preview_url) || imageSrc(m.proxy_url, m.url);
        if (!src) continue;
        const figure = el("figure", "medium" + (p.sensitive ? " blurred" : ""));
        const img = el("img");
        img.src = src;
        img.alt = m.description || "";
        img.loading = "lazy";
        img.referrerPolicy = "no-referrer";
        figure.append(img);
        if (p.sensitive) figure.append(el("span", "sensitive-label", strings.sensitive || "Sensitive media"));
        if (m.description) {
          const caption = el("figcaption", "alt");
          caption.append(el("span", "alt-badge", "ALT"), " ", m.description);
          figure.append(caption);
        }
        media.append(figure);
      }
      holder.append(media);
    }
    if (cw) article.append(holder);
  }

  const foot = el("footer", "post-foot");
  const time = el("time");
  time.dateTime = p.created_at || "";
  time.textContent = relativeTime(p.created_at, opts.lang);
  foot.append(time);
  const link = safeUrl(p.url);
  if (link && opts.mode !== "wall") {
    const a = el("a", "permalink", strings.open || "Open");
    a.href = link;
    a.rel = "nofollow noopener noreferrer";
    a.target = "_blank";
    foot.append(" ", a);
  }
  article.append(foot);
  return article;
}

const UNITS = [
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
];

export function relativeTime(iso, lang) {
  const when = Date.parse(iso || "");
  if (Number.isNaN(when)) return "";
  const seconds = (when - Date.now()) / 1000;
  const format = new Intl.RelativeTimeFormat(lang || "en", { numeric: "auto" });
  for (const [unit, size] of UNITS) {
    if (Math.abs(seconds) >= size) return format.format(Math.round(seconds / size), unit);
  }
  return format.format(0, "second");
}

export function refreshTimes(root, lang) {
  for (const time of root.querySelectorAll("time[datetime]")) {
    const text = relativeTime(time.dateTime, lang);
    if (text && time.textContent !== text) time.textContent = text;
  }
}
