// Shared parts of the UIs: building elements, calling the API with clear error messages,
// confirmations, copying, time formatting, and lists that page through large data sets.
import { t, hasMessage, lang, languages, setLang, translate } from "./i18n.js";

export { t, hasMessage };

/** `el("td", {class: "mono", text: id})`; children may be nodes or strings. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) if (child !== null && child !== undefined) node.append(child);
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

/** A failed API call, sorted into what the person should be told. */
export class ApiError extends Error {
  constructor(kind, status, body, message) {
    super(message);
    this.kind = kind; // session | banned | forbidden | unavailable | network | other
    this.status = status;
    this.body = body;
  }
}

function classify(status, body) {
  const code = body && typeof body === "object" && typeof body.code === "string" ? body.code : "";
  if (status === 401 && body?.status === "blocked") return new ApiError("banned", status, body, bannedText(body));
  if (status === 401 && code !== "banned" && code !== "user_banned") return new ApiError("session", status, body, t("error.session"));
  if (code === "banned" || code === "user_banned" || (status === 403 && body?.error === "Access denied")) {
    return new ApiError("banned", status, body, bannedText(body));
  }
  if (status === 502 || status === 503 || status === 504) return new ApiError("unavailable", status, body, t("error.unavailable"));
  // A refusal the page knows by its code is said in the person's language; never a raw status.
  if (code && hasMessage("code." + code)) return new ApiError(status === 403 ? "forbidden" : "other", status, body, t("code." + code, body));
  if (status === 403) return new ApiError("forbidden", status, body, t("error.forbidden"));
  return new ApiError("other", status, body, t("error.other"));
}

function bannedText(body) {
  const seconds = Number(body?.banned_until_seconds ?? body?.remaining_seconds);
  if (!(seconds > 0)) return t("error.banned");
  return t("error.bannedUntil", { d: duration(seconds), when: time(Date.now() / 1000 + seconds) });
}

/** Calls the gateway's JSON API; resolves to the parsed body or rejects with an ApiError. */
export async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" }, cache: "no-store" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError("network", 0, null, t("error.network"));
  }
  let parsed = null;
  try {
    parsed = await response.json();
  } catch {
    parsed = null;
  }
  if (!response.ok) throw classify(response.status, parsed);
  return parsed ?? {};
}

export function signInURL() {
  return "/oauth2/start?rd=" + encodeURIComponent(location.pathname + location.search);
}

/**
 * Shows an error in the page's banner (a sentence, never raw JSON), with a sign-in link when
 * it helps. `error` is an ApiError, or a sentence of the page's own (a failed input check).
 */
export function showError(error) {
  const banner = $("#page-error");
  const message = error instanceof ApiError ? error.message
    : typeof error === "string" ? error : t("error.other");
  const parts = [el("span", { id: "page-error-text", text: message })];
  if (error instanceof ApiError && error.kind === "session") {
    parts.push(el("a", { id: "sign-in-again", href: signInURL(), text: t("error.signIn") }));
  }
  // Blocked: signing in again as the same person would only be refused again.
  if (error instanceof ApiError && error.kind === "banned") {
    parts.push(el("a", { id: "sign-out", href: "/oauth2/sign_out", text: t("nav.signout") }),
      el("a", { id: "switch-account", href: "/oauth2/sign_out?rd=" + encodeURIComponent(signInURL()), text: t("error.switchAccount") }));
  }
  banner.replaceChildren(...parts);
  banner.dataset.kind = error?.kind || "other";
  banner.classList.remove("hidden");
  banner.scrollIntoView({ block: "nearest" });
}

let toastTimer;
/** A short success message; also clears an earlier error. */
export function notify(message) {
  $("#page-error").classList.add("hidden");
  const toast = $("#toast");
  toast.textContent = message;
  toast.classList.remove("hidden");
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => toast.classList.add("hidden"), 5000);
}

/** Runs an action that calls the API; errors go to the banner. */
export async function guarded(action) {
  try {
    return await action();
  } catch (error) {
    showError(error);
    return undefined;
  }
}

/** A modal yes/no question; resolves true when confirmed. */
export function confirmAction(message, { danger = true } = {}) {
  return new Promise((resolve) => {
    const ok = el("button", { id: "confirm-ok", class: danger ? "danger" : "", type: "button", text: t("common.confirm") });
    const cancel = el("button", { id: "confirm-cancel", class: "secondary", type: "button", text: t("common.cancel") });
    const dialog = el("dialog", { id: "confirm-dialog" }, el("p", { id: "confirm-message", text: message }),
      el("div", { class: "actions" }, cancel, ok));
    const finish = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
    ok.addEventListener("click", () => finish(true));
    cancel.addEventListener("click", () => finish(false));
    dialog.addEventListener("cancel", (event) => { event.preventDefault(); finish(false); });
    document.body.append(dialog);
    dialog.showModal();
    cancel.focus();
  });
}

/** Copies text to the clipboard and says so on the button. */
export async function copyText(text, button) {
  let copied = false;
  try {
    await navigator.clipboard.writeText(text);
    copied = true;
  } catch {
    const area = el("textarea", { class: "offscreen", readonly: true });
    area.value = text;
    document.body.append(area);
    area.select();
    copied = document.execCommand("copy");
    area.remove();
  }
  const label = button.textContent;
  button.textContent = copied ? t("common.copied") : t("common.copyFailed");
  button.dataset.copied = copied ? "true" : "false";
  setTimeout(() => { button.textContent = label; }, 2000);
}

// One formatter per language: building one per call made long lists slow to render.
const formatters = {};

/** A unix time as local date and time. */
export function time(unix) {
  if (!unix) return t("common.never");
  const code = lang();
  formatters[code] ??= new Intl.DateTimeFormat(code === "ja" ? "ja-JP" : "en-GB", { dateStyle: "medium", timeStyle: "short" });
  return formatters[code].format(new Date(Number(unix) * 1000));
}

/** Seconds as the two largest units, e.g. "6 d 23 h". */
export function duration(seconds) {
  let rest = Math.max(0, Math.round(Number(seconds) || 0));
  const units = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];
  const parts = [];
  for (const [unit, size] of units) {
    if (rest >= size || (unit === "s" && parts.length === 0)) {
      parts.push(t(`dur.${unit}`, { n: Math.floor(rest / size) }));
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(" ");
}

/** "in 29 d 23 h" / "3 min ago", relative to now. */
export function relative(unix) {
  if (!unix) return t("common.never");
  const delta = Number(unix) - Date.now() / 1000;
  return delta >= 0 ? t("common.in", { d: duration(delta) }) : t("common.ago", { d: duration(-delta) });
}

/** Bytes as a short human size. */
export function size(bytes) {
  if (typeof bytes !== "number") return String(bytes ?? "-");
  const units = ["B", "KB", "MB", "GB"];
  let value = bytes, unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit += 1; }
  return `${value.toFixed(unit ? 1 : 0)} ${units[unit]}`;
}

/**
 * A table body that pages through a list: `fetchPage(cursor)` resolves to
 * `{items, next, total, replace?}`; rows are added a page at a time with "Load more"
 * (`replace`: the answer is the whole list so far), and an optional filter hides loaded rows
 * without asking the server again.
 */
export class PagedTable {
  constructor({ body, footer, fetchPage, row, empty = "common.none", matches, key, stats = [] }) {
    Object.assign(this, { body, footer, fetchPage, row, empty, matches, key, stats });
    this.items = [];
    this.next = null;
    this.total = null;
    this.query = "";
    this.generation = 0;
    this.more = el("button", { type: "button", class: "secondary load-more", text: t("common.loadMore"), onclick: () => this.load(false) });
    this.count = el("span", { class: "count" });
    footer.replaceChildren(this.count, this.more);
  }

  async reload() {
    this.items = [];
    this.next = null;
    await this.load(true);
  }

  async load(first) {
    this.more.disabled = true;
    this.error = null;
    if (first) { this.loading = true; this.render(); this.markStats("loading"); }
    // An answer to an older request (a reload or search overtaken by a newer one) is dropped.
    const generation = first ? ++this.generation : this.generation;
    try {
      const page = await this.fetchPage(first ? null : this.next);
      if (generation !== this.generation) return;
      if (page.replace) this.items = [];
      // A SCAN-based list may repeat an item on a later page; `key` names what makes one unique.
      const seen = new Set(this.key ? this.items.map(this.key) : []);
      const added = this.key ? page.items.filter((item) => !seen.has(this.key(item))) : page.items;
      const appendOnly = !first && !page.replace && !this.query && this.items.length > 0;
      this.items.push(...added);
      this.next = page.next ?? null;
      this.total = page.total ?? null;
      // "Load more" adds only the new rows, so a long list costs one page of work per click.
      if (appendOnly) return this.render(added);
    } catch (error) {
      if (generation !== this.generation) return;
      // A failed first page shows the error in the table (not "Nothing here yet", not "0 shown").
      if (first) { this.items = []; this.next = null; this.total = null; this.error = error; this.markStats("error"); }
      showError(error);
      this.onError?.(error);
    } finally {
      if (generation === this.generation) { this.loading = false; this.more.disabled = false; }
    }
    this.render();
  }

  /** The stat cards fed by this list: "…" while it loads, "–" (not old numbers) after a failure. */
  markStats(state) {
    for (const id of this.stats) {
      const node = document.getElementById(id);
      if (!node) continue;
      node.textContent = state === "loading" ? "…" : "–";
      node.dataset.state = state;
      node.title = state === "loading" ? t("common.loading") : t("common.unknown");
    }
  }

  filter(query) {
    this.query = query.trim().toLowerCase();
    this.render();
  }

  /** Rebuilds the rows (or appends `added` to those shown) and the pager line. */
  render(added) {
    const shown = this.query && this.matches ? this.items.filter((item) => this.matches(item, this.query)) : this.items;
    const fragment = document.createDocumentFragment();
    const state = this.loading ? "loading" : this.error ? "error" : shown.length === 0 ? "empty" : null;
    if (state) fragment.append(stateRow(this.body, state, { empty: this.empty, error: this.error, retry: () => this.reload() }));
    else for (const item of added || shown) fragment.append(this.row(item));
    if (added && !state) this.body.append(fragment);
    else this.body.replaceChildren(fragment);
    labelCells(this.body);
    this.body.closest("table")?.setAttribute("aria-busy", String(state === "loading"));
    this.more.textContent = t("common.loadMore");
    this.more.classList.toggle("hidden", !this.next || state !== null);
    this.count.classList.toggle("hidden", state === "loading" || state === "error");
    this.count.textContent = this.total !== null
      ? t("common.shownOf", { shown: shown.length, total: this.total, count: this.total })
      : t("common.shown", { shown: shown.length, count: shown.length });
  }
}

/**
 * The one row a list shows instead of its items: "loading", "empty" (the list's own words) or
 * "error" (the error's sentence and a Retry button).
 */
export function stateRow(body, state, { empty = "common.none", error = null, retry = null } = {}) {
  const columns = body.closest("table")?.querySelectorAll("thead th").length || 1;
  const cell = el("td", { class: `state-cell state ${state}`, colspan: columns, dataset: { state } });
  if (state === "loading") cell.append(el("span", { class: "spinner", "aria-hidden": "true" }), t("common.loading"));
  else if (state === "empty") cell.append(t(empty));
  else {
    cell.append(el("span", { text: error instanceof ApiError ? error.message : t("error.other") }));
    if (retry) cell.append(el("button", { type: "button", class: "secondary small retry", text: t("common.retry"), onclick: retry }));
  }
  return el("tr", { class: "state-row" }, cell);
}

/** Gives each cell its column's name (shown before the value when a row is a card on a phone). */
export function labelCells(body) {
  const names = [...(body.closest("table")?.querySelectorAll("thead th") || [])].map((th) => th.textContent.trim());
  for (const row of body.rows) {
    [...row.cells].forEach((cell, index) => { if (!cell.classList.contains("state-cell")) cell.dataset.label = names[index] ?? ""; });
  }
}

/**
 * A small list loaded in one answer (not paged): shows loading, then the rows, the empty
 * sentence or the error with Retry. `load` resolves to the items; `row` builds one row.
 */
export class SimpleList {
  constructor({ body, load, row, empty = "common.none" }) {
    Object.assign(this, { body, load, row, empty });
    this.items = [];
    this.state = "loading";
    this.error = null;
  }

  async reload() {
    this.state = "loading";
    this.render();
    try {
      this.items = await this.load();
      this.state = this.items.length ? "ready" : "empty";
      this.error = null;
    } catch (error) {
      this.items = [];
      this.state = "error";
      this.error = error;
      showError(error);
    }
    this.render();
  }

  render() {
    if (this.state === "ready") this.body.replaceChildren(...this.items.map((item) => this.row(item)));
    else this.body.replaceChildren(stateRow(this.body, this.state, { empty: this.empty, error: this.error, retry: () => this.reload() }));
    labelCells(this.body);
    this.body.closest("table")?.setAttribute("aria-busy", String(this.state === "loading"));
  }
}

/** The query string for a paged admin list. */
export function pageQuery(cursor, limit = 100) {
  const query = new URLSearchParams({ limit: String(limit) });
  if (cursor !== null && cursor !== undefined && cursor !== "") query.set("cursor", String(cursor));
  return query.toString();
}

/** Language switch, translations of the static page, and a hook to re-render on switch. */
export function initPage(onLanguageChange) {
  const holder = $("#lang-switch");
  const buttons = languages.map((code) => el("button", {
    type: "button", "data-lang": code, "aria-pressed": String(code === lang()), text: code === "ja" ? "日本語" : "English",
    onclick: () => setLang(code),
  }));
  holder.replaceChildren(...buttons);
  translate();
  for (const link of document.querySelectorAll(".topbar nav a")) {
    if (link.getAttribute("href") === location.pathname) link.setAttribute("aria-current", "page");
  }
  revealAdminLinks();
  document.addEventListener("languagechange", () => {
    for (const button of buttons) button.setAttribute("aria-pressed", String(button.dataset.lang === lang()));
    onLanguageChange?.();
  });
}

/**
 * Who is signed in (`GET /api/me`: e-mail, name, roles), asked once per page load; null when
 * it cannot be told (the page's own lists then show why).
 */
export const me = api("GET", "/api/me").catch(() => null);

/** Shows the admin pages in the navigation only to those who may open them, and who is signed in. */
async function revealAdminLinks() {
  const who = await me;
  const roles = new Set(who?.roles || []);
  for (const link of document.querySelectorAll("[data-needs]")) {
    link.classList.toggle("hidden", !roles.has(link.dataset.needs === "super" ? "super_admin" : "admin"));
  }
  if (!who) return;
  const badge = el("span", { class: "whoami mono", id: "whoami", title: who.email, text: who.email });
  $(".topbar")?.insertBefore(badge, $("#lang-switch"));
}

const SOON = 3 * 86400;

/**
 * The cells of one of the person's own tokens: name with its id's first characters (the rest
 * masked: the token itself is never stored) and scopes, created, exact expiry with "expires
 * soon" within three days, last use.
 */
export function tokenCells(token) {
  const left = Number(token.expires_at) - Date.now() / 1000;
  const scopes = Array.isArray(token.scopes) && token.scopes.length ? token.scopes.join(", ") : t("tm.allScopes");
  return [
    el("td", { class: "token-name" }, el("span", { class: "name", text: token.token_name }),
      el("div", { class: "hint mono token-id", title: t("tm.idHint"), text: `${String(token.token_id).slice(0, 8)}••••••••` }),
      el("div", { class: "hint token-scopes", text: t("tm.scopes", { s: scopes }) })),
    el("td", { text: time(token.created_at) }),
    el("td", { class: "token-expires" }, el("span", { text: time(token.expires_at) }),
      el("div", { class: "hint", text: relative(token.expires_at) }),
      left > 0 && left < SOON ? el("span", { class: "badge warn expires-soon", text: t("tm.expiresSoon") }) : null),
    el("td", { class: "token-last-used", title: token.last_used ? time(token.last_used) : "",
      text: token.last_used ? relative(token.last_used) : t("common.never") }),
  ];
}
