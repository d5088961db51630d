// /token-manager: generate a personal API token (shown once, with ready-to-paste
// snippets), list one's tokens, revoke with confirmation.
import { $, SimpleList, api, confirmAction, copyText, el, guarded, initPage, notify, showError, t, time, tokenCells } from "./common.js";

const MAX_SECONDS = 90 * 86400;
let lastCreated = null;

function lifetimeSeconds() {
  const choice = $("#token-lifetime").value;
  if (choice !== "custom") return Number(choice);
  const amount = Number($("#custom-amount").value);
  const seconds = amount * Number($("#custom-unit").value);
  return Number.isInteger(amount) && amount > 0 && seconds <= MAX_SECONDS ? seconds : null;
}

function snippets(token) {
  const origin = location.origin;
  return {
    "snippet-curl": [
      `curl ${origin}/v1/chat/completions \\`,
      `  -H "Authorization: Bearer ${token}" \\`,
      `  -H "Content-Type: application/json" \\`,
      `  -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}'`,
    ].join("\n"),
    "snippet-roo": `Base URL: ${origin}/v1\nAPI Key:  ${token}\nModel:    gpt-4o-mini`,
    "snippet-claude": `export ANTHROPIC_BASE_URL=${origin}\nexport ANTHROPIC_AUTH_TOKEN=${token}\nclaude --model claude-sonnet-4`,
  };
}

function showCreated(answer) {
  lastCreated = answer;
  $("#token-created").textContent = t("tm.created", { name: answer.token_name, when: time(answer.expires_at) });
  $("#token-value").textContent = answer.token;
  for (const [id, text] of Object.entries(snippets(answer.token))) $("#" + id).textContent = text;
  $("#token-result").classList.remove("hidden");
  $("#token-result").scrollIntoView({ block: "start" });
  $("#copy-token").focus({ preventScroll: true });
}

function forgetCreated() {
  lastCreated = null;
  $("#token-value").textContent = "";
  for (const pre of document.querySelectorAll("#token-result pre")) pre.textContent = "";
  $("#token-result").classList.add("hidden");
}

async function generate(event) {
  event.preventDefault();
  const seconds = lifetimeSeconds();
  if (seconds === null) {
    showError(t("tm.customInvalid"));
    return;
  }
  const button = $("#generate");
  button.disabled = true;
  button.textContent = t("tm.generating");
  await guarded(async () => {
    const name = $("#token-name").value.trim();
    const answer = await api("POST", "/api/token/generate", { token_name: name || t("tm.defaultName"), expires_in: seconds });
    $("#page-error").classList.add("hidden");
    $("#token-name").value = "";
    showCreated(answer);
    await list.reload();
  });
  button.disabled = false;
  button.textContent = t("tm.generateButton");
}

const list = new SimpleList({
  body: $("#token-list"), empty: "tm.listEmpty",
  load: async () => {
    const answer = await api("GET", "/api/token/list");
    return (answer.tokens || []).slice().sort((a, b) => (b.created_at || 0) - (a.created_at || 0));
  },
  row: (token) => el("tr", { dataset: { tokenId: token.token_id } }, ...tokenCells(token),
    el("td", {}, el("button", { type: "button", class: "danger small revoke", text: t("tm.revoke"), onclick: () => revoke(token),
      "aria-label": t("tm.revokeNamed", { name: token.token_name }) }))),
});

async function revoke(token) {
  if (!(await confirmAction(t("tm.revokeConfirm", { name: token.token_name })))) return;
  await guarded(async () => {
    await api("POST", "/api/token/revoke", { token_id: token.token_id });
    if (lastCreated?.token_id === token.token_id) forgetCreated();
    notify(t("tm.revoked", { name: token.token_name }));
    await list.reload();
  });
}

initPage(() => {
  list.render();
  if (lastCreated) showCreated(lastCreated);
});
// The token is shown once: it is wiped when the page is left (also into the back/forward cache,
// so Back never brings it again), and leaving before "I have saved it" asks first.
window.addEventListener("pagehide", forgetCreated);
window.addEventListener("beforeunload", (event) => {
  if (!lastCreated) return;
  event.preventDefault();
  event.returnValue = t("tm.leaveWarning"); // browsers show their own words; a non-empty value is what asks
});
$("#token-lifetime").addEventListener("change", () => {
  $("#custom-lifetime").classList.toggle("hidden", $("#token-lifetime").value !== "custom");
});
$("#generate-form").addEventListener("submit", generate);
$("#copy-token").addEventListener("click", (event) => copyText($("#token-value").textContent, event.currentTarget));
for (const button of document.querySelectorAll(".copy-snippet")) {
  button.addEventListener("click", () => copyText($("#" + button.dataset.target).textContent, button));
}
$("#token-done").addEventListener("click", forgetCreated);
$("#refresh-tokens").addEventListener("click", () => list.reload());
list.reload();
