// /admin-manager (super admin): the administrators with where each comes from; add and
// remove those added at run time.
import { $, api, confirmAction, el, guarded, initPage, notify, showError, t } from "./common.js";

let admins = [];
let domains = [];
const sourceKind = { super_admin: "danger", environment: "warn", redis: "ok" };

function render() {
  const rows = admins.map((admin) => el("tr", { dataset: { email: admin.email, source: admin.source } },
    el("td", { class: "mono", text: admin.email }),
    el("td", {}, el("span", { class: `badge ${sourceKind[admin.source] || ""}`, text: t("am.source." + admin.source) })),
    el("td", {}, admin.removable
      ? el("button", { type: "button", class: "danger small remove-admin", text: t("am.remove"), onclick: () => remove(admin.email) })
      : el("span", { class: "hint", text: t("am.fixed") }))));
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { class: "empty", colspan: 3, text: t("common.none") })));
  $("#admin-list").replaceChildren(...rows);
  $("#admin-total").textContent = t("common.shown", { shown: admins.length });
  $("#admin-domains").textContent = domains.length ? t("am.domains", { d: domains.join(", ") }) : "";
}

async function load() {
  await guarded(async () => {
    const answer = await api("GET", "/api/admin/manage");
    admins = answer.admins || [];
    domains = answer.admin_domains || [];
    render();
  });
}

async function add(event) {
  event.preventDefault();
  const input = $("#admin-email");
  const email = input.value.trim().toLowerCase();
  if (!input.checkValidity() || !email.includes("@")) return showError(t("am.invalidEmail"));
  await guarded(async () => {
    await api("POST", "/api/admin/manage", { email });
    input.value = "";
    notify(t("am.added", { email }));
    await load();
  });
}

async function remove(email) {
  if (!(await confirmAction(t("am.removeConfirm", { email })))) return;
  await guarded(async () => {
    await api("DELETE", "/api/admin/manage", { email });
    notify(t("am.removed", { email }));
    await load();
  });
}

initPage(render);
$("#add-form").addEventListener("submit", add);
$("#refresh-admins").addEventListener("click", load);
load();
