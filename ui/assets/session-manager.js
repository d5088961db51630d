// /token-session-manager (admins): active users with ban/unban, sign-in sessions, all API
// tokens, Redis cleanup and the audit log. Every list pages with
// limit/cursor, so a deployment with 100,000 tokens never loads them all into the tab.
import {
  $, PagedTable, api, confirmAction, duration, el, guarded, hasMessage, initPage, me, notify, pageQuery, relative, showError, size, t, time,
} from "./common.js";
import { lang } from "./i18n.js";

const enc = encodeURIComponent;
const tables = {};
const loaded = new Set();
let self = null; // the signed-in admin's e-mail: no Ban on their own row

function button(text, onclick, kind = "danger") {
  return el("button", { type: "button", class: `${kind} small`, text, onclick });
}

function badge(text, kind) { return el("span", { class: `badge ${kind}`, text }); }

function setText(id, value) {
  const node = $("#" + id);
  node.textContent = value ?? "–";
  node.dataset.state = value === undefined || value === null ? "unknown" : "ready";
  node.removeAttribute("title");
}

// While the admin indexes are being built (a Redis the Lua gateway filled), totals are not
// known yet: "indexing, N of M" instead of a wrong number.
function indexingOr(answer, value) {
  return answer.indexing ? t("sm.indexing", { n: answer.indexing.processed, m: answer.indexing.total }) : value;
}

// --- Active users ---------------------------------------------------------------------
tables.users = new PagedTable({
  body: $("#users-list"), footer: $("#users-pager"), key: (user) => user.email, stats: ["users-total", "users-banned"],
  matches: (user, query) => user.email.toLowerCase().includes(query),
  // Newest last access first; `next_cursor` pages on over all users.
  async fetchPage(cursor) {
    self = (await me)?.email ?? null;
    const answer = await api("GET", "/api/admin/sessions/active-users?" + pageQuery(cursor));
    setText("users-total", indexingOr(answer, answer.total));
    setText("users-banned", answer.banned_count);
    return { items: answer.active_users || [], next: answer.next_cursor, total: answer.total };
  },
  row: (user) => el("tr", { dataset: { email: user.email } },
    el("td", { class: "mono", text: user.email }),
    el("td", {}, badge(t("sm.users.via." + (user.auth_method === "jwt" ? "jwt" : "oauth2")), "")),
    el("td", { text: user.session_count ?? 0 }),
    el("td", { text: user.last_access ? relative(user.last_access) : "–", title: time(user.last_access) }),
    el("td", { text: user.expires_at ? relative(user.expires_at) : "–", title: time(user.expires_at) }),
    el("td", { class: "user-status" }, user.is_banned
      ? [badge(t("sm.users.bannedBadge"), "danger"), el("div", { class: "hint ban-left",
        text: t("sm.users.left", { d: duration(user.ban_remaining_seconds), when: time(Date.now() / 1000 + user.ban_remaining_seconds) }) })]
      : badge(t("sm.users.active"), "ok")),
    el("td", {}, user.email === self ? el("span", { class: "hint", text: t("sm.users.you") })
      : user.is_banned ? button(t("sm.users.unban"), () => unban(user.email), "secondary unban")
        : button(t("sm.users.ban"), () => ban(user.email), "danger ban"))),
});

async function ban(email) {
  if (!(await confirmAction(t("sm.users.banConfirm", { email })))) return;
  await guarded(async () => {
    const answer = await api("POST", "/api/admin/sessions/revoke-user", { user_email: email });
    notify(t("sm.users.bannedDone", { email, n: answer.deleted_count ?? 0 }));
    await tables.users.reload();
  });
}

/** Bans anyone by e-mail, also a person who is not signed in right now. */
async function banByEmail(event) {
  event.preventDefault();
  const input = $("#ban-email");
  const email = input.value.trim().toLowerCase();
  if (!input.checkValidity() || !email.includes("@")) return showError(t("am.invalidEmail"));
  if (email === self) return showError(t("code.cannot_revoke_self"));
  await ban(email);
  input.value = "";
}

async function unban(email) {
  if (!(await confirmAction(t("sm.users.unbanConfirm", { email }), { danger: false }))) return;
  await guarded(async () => {
    await api("DELETE", "/api/admin/sessions/unban/" + enc(email));
    notify(t("sm.users.unbanned", { email }));
    await tables.users.reload();
  });
}

async function cleanupExpiredUsers() {
  if (!(await confirmAction(t("sm.users.cleanupConfirm")))) return;
  await guarded(async () => {
    const answer = await api("POST", "/api/admin/sessions/cleanup-expired");
    notify(t("sm.users.cleaned", { n: answer.cleaned_count ?? 0 }));
    await tables.users.reload();
  });
}

// --- Sessions -------------------------------------------------------------------------
tables.sessions = new PagedTable({
  body: $("#sessions-list"), footer: $("#sessions-pager"), key: (session) => session.session_key,
  stats: ["sessions-total", "sessions-users"],
  matches: (session, query) => String(session.email || "").toLowerCase().includes(query),
  async fetchPage(cursor) {
    if (cursor === null) {
      const stats = await api("GET", "/api/admin/sessions/stats");
      setText("sessions-total", indexingOr(stats, stats.total_sessions));
      setText("sessions-users", stats.unique_users);
    }
    const answer = await api("GET", "/api/admin/sessions?" + pageQuery(cursor));
    return { items: answer.sessions || [], next: answer.next_cursor, total: answer.total };
  },
  row: (session) => el("tr", { dataset: { sessionKey: session.session_key } },
    el("td", { class: "mono", text: session.email || "–" }),
    el("td", { class: "mono", text: String(session.session_key).replace(/^(_oauth2_proxy-.{8}).*$/, "$1…"), title: session.session_key }),
    el("td", { text: time(session.created_at) }),
    el("td", { text: session.expires_at ? relative(session.expires_at) : duration(session.ttl_seconds), title: time(session.expires_at) }),
    el("td", {}, button(t("sm.sessions.delete"), () => deleteSession(session), "danger delete-session"))),
});

async function deleteSession(session) {
  if (!(await confirmAction(t("sm.sessions.deleteConfirm", { email: session.email || "?" })))) return;
  await guarded(async () => {
    await api("DELETE", "/api/admin/sessions/" + enc(session.session_key));
    notify(t("sm.sessions.deleted"));
    await tables.sessions.reload();
  });
}

// --- Tokens ---------------------------------------------------------------------------
let tokenEmail = null;
const statusKind = { active: "ok", expired: "warn", revoked: "danger" };

tables.tokens = new PagedTable({
  body: $("#tokens-list"), footer: $("#tokens-pager"), key: (token) => token.token_id,
  stats: ["tokens-total", "tokens-active", "tokens-expired", "tokens-revoked"],
  matches: (token, query) => String(token.token_name || "").toLowerCase().includes(query)
    || String(token.user_email || "").toLowerCase().includes(query),
  async fetchPage(cursor) {
    if (tokenEmail) {
      const answer = await api("GET", `/api/admin/tokens/${enc(tokenEmail)}?` + pageQuery(cursor));
      const tokens = (answer.tokens || []).map((token) => ({ user_email: answer.user_email || tokenEmail, ...token }));
      return { items: tokens, next: answer.next_cursor };
    }
    // The summary counts every token in Redis, not the page.
    const answer = await api("GET", "/api/admin/tokens?" + pageQuery(cursor));
    for (const key of ["total", "active", "expired", "revoked"]) {
      setText("tokens-" + key, key === "total" ? indexingOr(answer, answer.summary?.total) : answer.indexing ? "…" : answer.summary?.[key]);
    }
    return { items: answer.tokens || [], next: answer.next_cursor };
  },
  row: (token) => {
    const status = token.status || (token.is_revoked ? "revoked" : token.is_expired ? "expired" : "active");
    return el("tr", { dataset: { tokenId: token.token_id } },
      el("td", { text: token.token_name }),
      el("td", { class: "mono", text: token.user_email }),
      el("td", { text: time(token.created_at) }),
      el("td", { text: relative(token.expires_at), title: time(token.expires_at) }),
      el("td", { text: token.last_used ? relative(token.last_used) : t("common.never") }),
      el("td", {}, badge(t("sm.tokens.status." + status), statusKind[status] || "")),
      el("td", {}, status === "active" ? button(t("sm.tokens.revoke"), () => revokeToken(token), "danger revoke-token") : null));
  },
});

function searchTokens(event) {
  event.preventDefault();
  const query = $("#tokens-search").value.trim();
  if (query.includes("@")) {
    tokenEmail = query.toLowerCase();
    tables.tokens.query = "";
    tables.tokens.reload();
  } else {
    if (tokenEmail) { tokenEmail = null; tables.tokens.reload(); }
    tables.tokens.filter(query);
  }
}

function showAllTokens() {
  tokenEmail = null;
  $("#tokens-search").value = "";
  tables.tokens.query = "";
  tables.tokens.reload();
}

async function revokeToken(token) {
  if (!(await confirmAction(t("sm.tokens.revokeConfirm", { name: token.token_name, email: token.user_email })))) return;
  await guarded(async () => {
    await api("DELETE", "/api/admin/tokens/" + enc(token.token_id));
    notify(t("sm.tokens.revokedDone"));
    await tables.tokens.reload();
  });
}

// --- Cleanup --------------------------------------------------------------------------
/** A name the server sends (a phase, an item type, a count or result key) in the page's
 * language: its catalogue entry `sm.term.<name>`; a name the catalogue lacks stays readable. */
function term(name) {
  return hasMessage("sm.term." + name) ? t("sm.term." + name) : String(name).replaceAll("_", " ");
}

/** One leftover or deleted entry in words: whose, which key or token, why. */
function describe(item) {
  if (typeof item !== "object" || item === null) return String(item);
  const who = item.user_email || item.email;
  const what = item.token_id || item.key || item.user_tokens_key;
  return [item.type && term(item.type), who, what, item.reason].filter(Boolean).join(" · ");
}

function keyValues(object) {
  return el("div", { class: "stats" }, Object.entries(object || {}).map(([key, value]) =>
    el("div", { class: "stat" }, el("div", { class: "value", text: typeof value === "object" ? JSON.stringify(value) : value }),
      el("div", { class: "label", text: term(key) }))));
}

const ITEMS_PAGE = 50;
const number = (n) => new Intl.NumberFormat(document.documentElement.lang || "en").format(Number(n) || 0);

/** A long list of items, 50 at a time with "Show more" (a cleanup can list 1,000). */
function itemList(items) {
  const list = el("ul", { class: "mono item-list" });
  const more = el("button", { type: "button", class: "secondary small show-more", text: t("sm.cleanup.showMore") });
  const show = () => {
    const start = list.children.length;
    list.append(...items.slice(start, start + ITEMS_PAGE).map((item) => el("li", { text: describe(item) })));
    more.classList.toggle("hidden", list.children.length >= items.length);
  };
  more.addEventListener("click", show);
  show();
  return el("div", {}, list, more);
}

/** "Deleted items: 1,000 listed of 43,700 (the log keeps the first 1,000)" when the log was cut. */
function itemsHeading(items, total) {
  const cut = Number(total) > items.length;
  return el("h3", { class: "items-heading",
    text: cut ? t("sm.cleanup.itemsCut", { shown: number(items.length), total: number(total) }) : t("sm.cleanup.items", { n: number(items.length) }) });
}

async function previewCleanup() {
  await guarded(async () => {
    const answer = await api("GET", "/api/admin/redis/cleanup/preview");
    const parts = [el("h3", { text: t("sm.cleanup.previewTitle") }), keyValues(answer.counts)];
    const memory = answer.estimated_freed_memory ?? answer.freed_memory;
    if (memory !== undefined) parts.push(el("p", { class: "hint", text: t("sm.cleanup.memory", { m: typeof memory === "number" ? size(memory) : memory }) }));
    const groups = Object.entries(answer.targets || {}).filter(([, list]) => Array.isArray(list) && list.length > 0);
    if (groups.length === 0) parts.push(el("p", { class: "empty", id: "cleanup-nothing", text: t("sm.cleanup.nothing") }));
    for (const [name, list] of groups) {
      parts.push(el("details", { class: "preview-group" }, el("summary", { text: `${term(name)} (${list.length})` }), itemList(list)));
    }
    $("#cleanup-preview-result").replaceChildren(...parts);
  });
}

async function runCleanup() {
  // The preview is a dry run of the run: its counts are what the run will delete.
  const counts = (await api("GET", "/api/admin/redis/cleanup/preview")).counts || {};
  const n = (kind) => counts[kind] ?? 0;
  const question = t("sm.cleanup.runConfirmCounts", { total: n("total"), ids: n("orphaned_jwt_token_ids"), sets: n("empty_token_sets"),
    meta: n("orphaned_metadata"), users: n("stale_active_users"), sessions: n("stale_sessions") });
  if (!(await confirmAction(question))) return;
  await guarded(async () => {
    const answer = await api("POST", "/api/admin/redis/cleanup");
    showJob(answer.job);
    watchJob();
  });
}

async function cancelCleanup() {
  await guarded(async () => {
    await api("POST", "/api/admin/redis/cleanup/cancel");
    notify(t("sm.cleanup.cancelRequested"));
  });
}

// The running (or last) cleanup job: a progress bar with counts while it runs, its log when done.
let jobTimer = null;

function showJob(job) {
  const box = $("#cleanup-job");
  if (!job) { box.replaceChildren(); box.classList.add("hidden"); return; }
  box.classList.remove("hidden");
  box.dataset.state = job.state;
  const running = job.state === "running";
  const total = Math.max(job.total || 0, job.processed || 0, 1);
  const percent = Math.min(100, Math.floor(((job.processed || 0) * 100) / total));
  const parts = [
    el("div", { class: "row" },
      el("strong", { id: "cleanup-job-state", text: t("sm.cleanup.state." + job.state) }),
      el("span", { class: "hint", text: t("sm.cleanup.phase", { phase: job.phase ? term(job.phase) : "", i: job.phase_index || 0, n: job.phase_count || 0 }) }),
      running ? button(t("sm.cleanup.cancel"), cancelCleanup, "danger cleanup-cancel") : null),
    el("progress", { id: "cleanup-progress", max: String(total), value: String(job.state === "done" ? total : Math.min(job.processed || 0, total)) }),
    el("p", { class: "hint", id: "cleanup-job-counts",
      text: t("sm.cleanup.progress", { done: number(job.processed), total: number(job.total), p: percent, removed: number(job.removed) }) }),
  ];
  if (job.log) {
    const items = job.log.deleted_items || [];
    parts.push(el("details", { class: "cleanup-log", dataset: { cleanupId: job.cleanup_id || "" } },
      el("summary", { text: t("sm.cleanup.logLine", { when: time(job.log.timestamp), by: job.log.executed_by || "system", n: job.log.total_deleted ?? 0, ms: job.log.duration_ms ?? 0 }) }),
      keyValues(job.log.results), itemsHeading(items, job.log.total_deleted), itemList(items)));
  }
  box.replaceChildren(...parts);
  $("#cleanup-run").disabled = running;
}

async function watchJob() {
  clearTimeout(jobTimer);
  const answer = await api("GET", "/api/admin/redis/cleanup/job");
  showJob(answer.job);
  if (answer.job?.state === "running") {
    jobTimer = setTimeout(() => watchJob().catch(showError), 1000);
  } else if (answer.job && ["done", "cancelled"].includes(answer.job.state) && $("#cleanup-job").dataset.reported !== answer.job.cleanup_id) {
    $("#cleanup-job").dataset.reported = answer.job.cleanup_id;
    await loadCleanupLogs();
  }
}

async function loadCleanupLogs() {
  await guarded(async () => {
    const answer = await api("GET", "/api/admin/redis/cleanup/logs");
    $("#cleanup-retention").textContent = answer.retention_days ? t("sm.cleanup.retention", { d: answer.retention_days }) : "";
    const logs = answer.logs || [];
    const entries = logs.map((log) => {
      const items = log.deleted_items || [];
      const line = t("sm.cleanup.logLine", { when: time(log.timestamp), by: log.executed_by || "system", n: log.total_deleted ?? 0, ms: log.duration_ms ?? 0 });
      return el("details", { class: "cleanup-log", dataset: { cleanupId: log.cleanup_id || "" } },
        el("summary", {}, line + " ", badge(log.manual === false ? t("sm.cleanup.scheduled") : t("sm.cleanup.manual"), "")),
        keyValues(log.results),
        itemsHeading(items, log.total_deleted),
        itemList(items));
    });
    if (entries.length === 0) entries.push(el("p", { class: "empty", text: t("common.none") }));
    $("#cleanup-logs").replaceChildren(...entries);
  });
}

// --- Audit log ------------------------------------------------------------------------
function details(value) {
  if (value === undefined || value === null) return "";
  if (typeof value !== "object") return String(value);
  // Lifetimes in words ("ban_ttl: 7 d") and times as dates ("expires at: 4 Dec 2026"), not seconds.
  const shown = (key, item) => typeof item === "object" ? JSON.stringify(item)
    : /(_ttl|_seconds)$/.test(key) && Number.isFinite(Number(item)) ? duration(item)
    : /_at$/.test(key) && Number.isFinite(Number(item)) ? time(item) : item;
  return Object.entries(value).map(([key, item]) => `${term(key)}: ${shown(key, item)}`).join(", ");
}

// Every action the gateway records, for the filter (names shown translated).
const auditActions = ["session.sign_in", "token.generate", "token.revoke", "token.revoke_user", "self.token.revoke",
  "session.delete", "session.revoke_user", "session.unban", "self.session.end", "self.session.end_others",
  "session.cleanup_expired", "admin.add", "admin.remove", "redis.cleanup", "redis.cleanup_start", "redis.cleanup_cancel",
  "litellm.key_generate", "litellm.admin", "identity_refused"];
const actionName = (action) => hasMessage("audit.action." + action) ? t("audit.action." + action) : action;

/** What happened, as a sentence in the page's language ("Banned alice@… for 7 d"): the
 * action's `audit.sentence.*` template with the target and, for a ban, its length. */
function sentence(entry) {
  const key = "audit.sentence." + entry.action;
  if (!hasMessage(key)) return actionName(entry.action);
  const ban = Number(entry.details?.ban_ttl);
  const withLength = Number.isFinite(ban) && hasMessage(key + ".for");
  return t(withLength ? key + ".for" : key, { target: entry.target || "–", length: withLength ? duration(ban) : "" });
}

function fillAuditActions() {
  const select = $("#audit-action");
  const chosen = select.value;
  select.replaceChildren(el("option", { value: "", text: t("sm.audit.filter.anyAction") }),
    ...auditActions.map((action) => el("option", { value: action, text: actionName(action) })));
  select.value = chosen;
}

/** The filters as query parameters: `datetime-local` values (the browser's time zone) as unix seconds. */
function auditFilters() {
  const query = new URLSearchParams();
  const actor = $("#audit-actor").value.trim();
  if (actor) query.set("actor", actor);
  if ($("#audit-action").value) query.set("action", $("#audit-action").value);
  for (const name of ["since", "until"]) {
    const value = $("#audit-" + name).value;
    const seconds = value ? Math.floor(new Date(value).getTime() / 1000) : NaN;
    if (Number.isFinite(seconds)) query.set(name, String(seconds));
  }
  return query;
}

function applyAuditFilters(event) {
  event?.preventDefault();
  const query = auditFilters();
  $("#audit-filtered").classList.toggle("hidden", query.size === 0);
  for (const format of ["csv", "json"]) {
    const href = new URLSearchParams(query);
    href.set("format", format);
    $("#audit-export-" + format).href = "/api/admin/audit?" + href;
  }
  return tables.audit.reload();
}

/** The exact time: local date and time with seconds, the UTC ISO form on hover. */
function exactTime(unix) {
  const date = new Date(Number(unix) * 1000);
  const format = new Intl.DateTimeFormat(lang() === "ja" ? "ja-JP" : "en-GB", { dateStyle: "medium", timeStyle: "medium" });
  return el("time", { datetime: date.toISOString(), title: date.toISOString(), text: format.format(date) });
}

tables.audit = new PagedTable({
  body: $("#audit-list"), footer: $("#audit-pager"),
  async fetchPage(cursor) {
    const query = auditFilters();
    for (const [key, value] of new URLSearchParams(pageQuery(cursor, 50))) query.set(key, value);
    const answer = await api("GET", "/api/admin/audit?" + query);
    $("#audit-retention").textContent = t("sm.audit.retention", { d: answer.retention_days });
    // The whole log's size says nothing about a filtered selection.
    return { items: answer.entries || [], next: answer.next_cursor, total: query.has("actor") || query.has("action")
      || query.has("since") || query.has("until") ? null : answer.total };
  },
  row: (entry) => el("tr", {},
    el("td", {}, exactTime(entry.timestamp)),
    el("td", { class: "mono", text: entry.actor }),
    el("td", { class: "audit-action", title: entry.action, text: actionName(entry.action) }),
    el("td", {}, el("div", { class: "audit-sentence", text: sentence(entry) }), el("div", { class: "mono hint", text: entry.target }),
      entry.details ? el("div", { class: "hint", text: details(entry.details) }) : null),
    el("td", {}, badge(hasMessage("sm.audit.result." + entry.result) ? t("sm.audit.result." + entry.result) : entry.result,
      ["ok", "forwarded"].includes(entry.result) ? "ok" : "danger"))),
});

// --- Tabs -----------------------------------------------------------------------------
const loaders = {
  users: () => tables.users.reload(),
  sessions: () => tables.sessions.reload(),
  tokens: () => tables.tokens.reload(),
  cleanup: () => Promise.all([previewCleanup(), loadCleanupLogs(), guarded(watchJob)]),
  audit: () => tables.audit.reload(),
};

function selectTab(name) {
  if (!(name in loaders)) name = "users";
  for (const tab of document.querySelectorAll("[role=tab]")) tab.setAttribute("aria-selected", String(tab.dataset.tab === name));
  for (const panel of document.querySelectorAll("[role=tabpanel]")) panel.classList.toggle("hidden", panel.id !== "panel-" + name);
  if (location.hash !== "#" + name) history.replaceState(null, "", "#" + name);
  if (!loaded.has(name)) { loaded.add(name); loaders[name](); }
}

initPage(() => {
  for (const table of Object.values(tables)) table.render();
  fillAuditActions();
  // The cleanup tab's content is built from its answers: fetch it again in the new language.
  loaded.delete("cleanup");
  if (location.hash === "#cleanup") selectTab("cleanup");
});
for (const tab of document.querySelectorAll("[role=tab]")) tab.addEventListener("click", () => selectTab(tab.dataset.tab));
$("#users-search").addEventListener("input", (event) => tables.users.filter(event.target.value));
$("#users-refresh").addEventListener("click", () => tables.users.reload());
$("#users-cleanup").addEventListener("click", cleanupExpiredUsers);
$("#ban-form").addEventListener("submit", banByEmail);
$("#sessions-search").addEventListener("input", (event) => tables.sessions.filter(event.target.value));
$("#sessions-refresh").addEventListener("click", () => tables.sessions.reload());
$("#tokens-search-form").addEventListener("submit", searchTokens);
$("#tokens-refresh").addEventListener("click", showAllTokens);
$("#cleanup-preview").addEventListener("click", previewCleanup);
$("#cleanup-run").addEventListener("click", runCleanup);
$("#cleanup-logs-refresh").addEventListener("click", loadCleanupLogs);
$("#audit-refresh").addEventListener("click", () => tables.audit.reload());
$("#audit-filters").addEventListener("submit", applyAuditFilters);
$("#audit-clear").addEventListener("click", () => { $("#audit-filters").reset(); applyAuditFilters(); });
fillAuditActions();
// Tab links (`#users`, `#sessions`, `#tokens`, `#cleanup`, `#audit`, also as
// `/token-session-manager#cleanup`) switch tabs from anywhere: a changed hash, and a click on
// a link to the tab already named in the address (no hashchange then).
window.addEventListener("hashchange", () => selectTab(location.hash.slice(1)));
document.addEventListener("click", (event) => {
  const link = event.target.closest?.("a[href*='#']");
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  const url = new URL(link.href, location.href);
  const name = url.hash.slice(1);
  if (url.origin !== location.origin || url.pathname !== location.pathname || !(name in loaders)) return;
  event.preventDefault();
  selectTab(name);
});
selectTab(location.hash.slice(1));
