// /admin-manager (super admin): the administrators with where each comes from; add and
// remove those added at run time.
import { $, SimpleList, api, confirmAction, el, guarded, initPage, notify, showError, t } from "./common.js";

let domains = [];
const sourceKind = { super_admin: "super", environment: "", redis: "ok" };

const list = new SimpleList({
  body: $("#admin-list"),
  load: async () => {
    const answer = await api("GET", "/api/admin/manage");
    domains = answer.admin_domains || [];
    return answer.admins || [];
  },
  row: (admin) => el("tr", { dataset: { email: admin.email, source: admin.source } },
    el("td", { class: "mono", text: admin.email }),
    el("td", {}, el("span", { class: `badge ${sourceKind[admin.source] || ""}`, text: t("am.source." + admin.source) }),
      t("am.sourceFrom." + admin.source) ? el("div", { class: "hint mono", text: t("am.sourceFrom." + admin.source) }) : null),
    el("td", {}, admin.removable
      ? el("button", { type: "button", class: "danger small remove-admin", text: t("am.remove"), onclick: () => remove(admin.email),
        "aria-label": t("am.removeNamed", { email: admin.email }) })
      : el("span", { class: "hint", text: t("am.fixed") }))),
});

function render() {
  list.render();
  const ready = list.state === "ready";
  $("#admin-total").textContent = ready ? t("common.shown", { shown: list.items.length, count: list.items.length }) : "";
  $("#admin-domains").textContent = ready && domains.length ? t("am.domains", { d: domains.join(", ") }) : "";
}

async function load() {
  await list.reload();
  render();
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
