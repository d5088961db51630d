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


# Strings shown in one language that belong to the other: on a Japanese page, a text that
# matches an English message (placeholders as wildcards) and no Japanese one; on an English
# page, any Japanese text but the language switch's own name; on both, a raw message key
# (t() answers the key when a message is missing). Also every key in both catalogues
# (`#one` plural forms only where the language has them).
TRANSLATION = r"""
const done = arguments[arguments.length - 1];
import('/ui-assets/i18n.js').then(({ catalogues, lang }) => {
  const messages = catalogues();
  const current = lang();
  const other = current === 'ja' ? 'en' : 'ja';
  const problems = [];
  for (const key of Object.keys(messages.en)) if (!key.includes('#') && !(key in messages.ja)) problems.push(`no Japanese for ${key}`);
  for (const key of Object.keys(messages.ja)) if (!(key in messages.en)) problems.push(`no English for ${key}`);
  const pattern = (text) => new RegExp('^' + text.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{\w+\\?\}/g, '.+') + '$', 's');
  const literal = (text) => text.replace(/\{\w+\}/g, '').replace(/[\s·:()（）、。,.]/g, '').length >= 3;
  const templates = (code) => Object.values(messages[code]).filter(literal).map(pattern);
  const mine = templates(current), theirs = templates(other);
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.trim();
    const holder = node.parentElement;
    if (!text || seen.has(text) || !holder || holder.closest('#lang-switch, .hidden, script, style, pre, code, [hidden]')) continue;
    if (!holder.getClientRects().length) continue;
    seen.add(text);
    if (/^[a-z]+(\.[a-zA-Z_]+)+(#\w+)?$/.test(text) && text in messages.en) { problems.push(`raw key shown: ${text}`); continue; }
    if (current === 'en' && /[\u3040-\u30ff\u4e00-\u9fff]/.test(text)) problems.push(`Japanese on an English page: "${text}"`);
    if (current === 'ja' && theirs.some((re) => re.test(text)) && !mine.some((re) => re.test(text))) problems.push(`English on a Japanese page: "${text}"`);
  }
  done(problems);
}, (error) => done([`i18n.js not loaded: ${error}`]));
"""


def untranslated(browser):
    return browser.driver.execute_async_script(TRANSLATION)


def accessibility(browser):
    """axe-core (from axe-selenium-python, requirements-dev.txt) on the page as it is now: each
    serious or critical violation as "rule: target (impact)"."""
    from axe_selenium_python import Axe

    axe = Axe(browser.driver)
    axe.inject()
    results = axe.run(options={"resultTypes": ["violations"]})
    return [
        f"axe {v['id']} ({v['impact']}): {', '.join(str(n['target']) for n in v['nodes'][:3])} - {v['help']}"
        for v in results["violations"]
        if v["impact"] in ("serious", "critical")
    ]
