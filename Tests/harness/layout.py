"""Layout checks run inside the page (getBoundingClientRect): what a person would see as broken.

`problems(browser)` lists, in words, each place where
- the page scrolls sideways (the document is wider than the window),
- a control, badge, heading, stat or code block sticks out of the window or out of the table
  cell, stat card, card or banner that holds it (a badge covering the next column's number),
- two such boxes overlap (headers over headers, a badge over a number),
- a button, badge or tab wraps onto a second line (the "Revoke" one letter per line).
Hidden elements, and boxes inside a closed <details>, are not looked at; fixed boxes (the
toast) and the modal dialog are checked against the window only.
"""

CHECK = r"""
const problems = [];
const root = document.documentElement;
const width = root.clientWidth;
const name = (e) => {
  const id = e.id ? '#' + e.id : '';
  const cls = typeof e.className === 'string' && e.className ? '.' + e.className.trim().split(/\s+/).join('.') : '';
  return `${e.tagName.toLowerCase()}${id}${cls} "${(e.innerText || e.value || '').trim().slice(0, 40)}"`;
};
if (root.scrollWidth > width + 1) problems.push(`the page scrolls sideways: ${root.scrollWidth} px in a ${width} px window`);
const shown = (e) => {
  if (e.closest('details:not([open]) > :not(summary)')) return false;
  const r = e.getBoundingClientRect();
  const style = getComputedStyle(e);
  return r.width > 0 && r.height > 0 && style.visibility !== 'hidden' && style.opacity !== '0';
};
const dialog = document.querySelector('dialog[open]');
const scope = dialog || document.body;
const boxes = [...scope.querySelectorAll(
  'button, a, input, select, textarea, .badge, th, h1, h2, h3, label, .stat .value, .stat .label, code, pre, progress, summary, .count, [role=tab]'
)].filter(shown);
const fixed = (e) => { for (let n = e; n; n = n.parentElement) if (getComputedStyle(n).position === 'fixed') return true; return false; };
for (const e of boxes) {
  const r = e.getBoundingClientRect();
  if (r.left < -1 || r.right > width + 1) { problems.push(`outside the window (${Math.round(r.left)}..${Math.round(r.right)} of ${width}): ${name(e)}`); continue; }
  const holder = e.parentElement && e.parentElement.closest('td, th, .stat, .card, .banner, dialog, .tabs, .topbar');
  if (holder && !fixed(e)) {
    const h = holder.getBoundingClientRect();
    if (r.left < h.left - 1 || r.right > h.right + 1) problems.push(`sticks out of its ${holder.tagName.toLowerCase()}.${holder.className}: ${name(e)}`);
  }
  if (e.matches('button, .badge, [role=tab], th')) {
    const range = document.createRange();
    range.selectNodeContents(e);
    const lines = new Set([...range.getClientRects()].filter((q) => q.width > 0).map((q) => Math.round(q.top)));
    if (lines.size > 1) problems.push(`wraps onto ${lines.size} lines: ${name(e)}`);
  }
}
const flat = boxes.filter((e) => !fixed(e) || dialog);
for (let i = 0; i < flat.length; i++) {
  const a = flat[i], ra = a.getBoundingClientRect();
  for (let j = i + 1; j < flat.length; j++) {
    const b = flat[j];
    if (a.contains(b) || b.contains(a)) continue;
    const rb = b.getBoundingClientRect();
    const x = Math.min(ra.right, rb.right) - Math.max(ra.left, rb.left);
    const y = Math.min(ra.bottom, rb.bottom) - Math.max(ra.top, rb.top);
    if (x > 2 && y > 2) problems.push(`overlap (${Math.round(x)}x${Math.round(y)} px): ${name(a)} and ${name(b)}`);
  }
}
return problems;
"""


def problems(browser):
    return browser.driver.execute_script(CHECK)
