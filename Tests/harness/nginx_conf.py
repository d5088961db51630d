"""The nginx templates (openresty/*.conf) as nginx reads them: a location's text with each
`include ${NGINX_CONF_DIR}/<snippet>.conf;` replaced by the snippet, for tests that check what a
location does without rendering and starting nginx."""

import re

from harness.stack import ROOT

TEMPLATES = ROOT / "openresty"
INCLUDE = re.compile(r"include \$\{NGINX_CONF_DIR\}/([\w.-]+\.conf);")


def expanded(name: str) -> str:
    """openresty/<name> with its includes (and theirs) written out in place. Generated files
    (identity.conf, trusted-proxies.conf, ...) are not templates and stay as include lines."""

    def inline(match: re.Match) -> str:
        path = TEMPLATES / match.group(1)
        return INCLUDE.sub(inline, path.read_text()) if path.exists() else match.group(0)

    return INCLUDE.sub(inline, (TEMPLATES / name).read_text())
