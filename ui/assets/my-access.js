// /my-access: the signed-in person's own sign-in sessions (browser, address, first and last
// seen; end one other than the current, or all others) and API tokens (last use; revoke).
// Ending a session or revoking a token is written to the audit log the admins read.
import { $, SimpleList, api, confirmAction, el, guarded, initPage, notify, relative, t, time, tokenCells } from "./common.js";


/** "Chrome on Linux" from a User-Agent header; the header itself is the cell's title. */
export function browserLabel(agent) {
  if (!agent) return t("ma.unknownBrowser");
  const browsers = [[/Edg\//, "Edge"], [/OPR\//, "Opera"], [/Firefox\//, "Firefox"], [/(Headless)?Chrome\/|Chromium\//, "Chrome"],
    [/Version\/[\d.]+.*Safari\//, "Safari"], [/^curl\//, "curl"]];
  const systems = [[/Windows/, "Windows"], [/Android/, "Android"], [/iPhone|iPad/, "iOS"], [/Mac OS X|Macintosh/, "macOS"],
    [/CrOS/, "ChromeOS"], [/Linux/, "Linux"]];
  const browser = browsers.find(([pattern]) => pattern.test(agent))?.[1] ?? agent.split(/[ /]/)[0];
  const system = systems.find(([pattern]) => pattern.test(agent))?.[1];
  return system ? t("ma.browserOn", { browser, system }) : browser;
}

const sessionList = new SimpleList({
  body: $("#session-list"), empty: "ma.noSessions",
  load: async () => {
    const answer = await api("GET", "/api/me/sessions");
    return answer.sessions || [];
  },
  row: (session) => el("tr", { dataset: { sessionId: session.session_id }, class: session.current ? "current" : "" },
    el("td", { class: "session-browser", title: session.user_agent || "" }, browserLabel(session.user_agent), " ",
      session.current ? el("span", { class: "badge ok this-session", text: t("ma.current") }) : null),
    el("td", { class: "mono session-address", text: session.address || "—" }),
    el("td", { title: time(session.first_seen), text: session.first_seen ? relative(session.first_seen) : "—" }),
    el("td", { title: time(session.last_seen), text: session.last_seen ? relative(session.last_seen) : "—" }),
    el("td", { title: relative(session.expires_at), text: session.expires_at ? time(session.expires_at) : "—" }),
    el("td", {}, session.current
      ? el("span", { class: "hint", text: t("ma.signOutToEnd") })
      : el("button", { type: "button", class: "danger small end-session", text: t("ma.end"), onclick: () => endSession(session) }))),
});

const tokenList = new SimpleList({
  body: $("#token-list"), empty: "tm.listEmpty",
  load: async () => {
    const answer = await api("GET", "/api/token/list");
    return (answer.tokens || []).slice().sort((a, b) => (b.created_at || 0) - (a.created_at || 0));
  },
  row: (token) => el("tr", { dataset: { tokenId: token.token_id } }, ...tokenCells(token),
    el("td", {}, el("button", { type: "button", class: "danger small revoke", text: t("tm.revoke"), onclick: () => revoke(token),
      "aria-label": t("tm.revokeNamed", { name: token.token_name }) }))),
});

async function loadSessions() {
  await sessionList.reload();
  $("#end-others").disabled = !sessionList.items.some((session) => !session.current);
}

async function endSession(session) {
  if (!(await confirmAction(t("ma.endConfirm", { browser: browserLabel(session.user_agent), address: session.address || "—" })))) return;
  await guarded(async () => {
    await api("DELETE", "/api/me/sessions/" + encodeURIComponent(session.session_id));
    notify(t("ma.ended"));
    await loadSessions();
  });
}

async function endOthers() {
  if (!(await confirmAction(t("ma.endOthersConfirm")))) return;
  await guarded(async () => {
    const answer = await api("POST", "/api/me/sessions/end-others");
    notify(t("ma.endedOthers", { n: answer.ended_count ?? 0 }));
    await loadSessions();
  });
}

async function revoke(token) {
  if (!(await confirmAction(t("tm.revokeConfirm", { name: token.token_name })))) return;
  await guarded(async () => {
    await api("POST", "/api/token/revoke", { token_id: token.token_id });
    notify(t("tm.revoked", { name: token.token_name }));
    await tokenList.reload();
  });
}

initPage(() => {
  sessionList.render();
  tokenList.render();
});
$("#refresh-sessions").addEventListener("click", loadSessions);
$("#end-others").addEventListener("click", endOthers);
$("#refresh-tokens").addEventListener("click", () => tokenList.reload());
loadSessions();
tokenList.reload();
