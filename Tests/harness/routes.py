"""The workers' route table as the Swift source declares it (`static let endpoints: [Route]` and
`static let checks`), read from the source so that a test iterating it covers a route the day
it is added."""

import re

from harness.stack import ROOT

SOURCES = ROOT / "Sources"
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def _swift_files():
    return sorted(SOURCES.rglob("*.swift"))


def _constant(reference: str) -> str:
    """The string value of `Type.name` (e.g. TokenAdmin.prefix) in the Swift sources."""
    type_name, name = reference.split(".")
    for path in _swift_files():
        text = path.read_text()
        if not re.search(rf"\b(enum|struct|extension|final class|class)\s+{type_name}\b", text):
            continue
        match = re.search(rf'static let {name}\s*=\s*"([^"]*)"', text)
        if match:
            return match.group(1)
    raise LookupError(f"no string constant {reference} in {SOURCES}")


def endpoints():
    """[(method, path, is_prefix, access)] in table order."""
    for path in _swift_files():
        text = path.read_text()
        start = text.find("static let endpoints: [Route]")
        if start < 0:
            continue
        block = text[start : text.index("\n    ]", start)]
        declared = re.findall(r"Route\(", block)
        rows = re.findall(r'Route\(\s*"([A-Z]+)",\s*("[^"]*"|[A-Za-z]+\.[A-Za-z]+)\s*,\s*(prefix:\s*true\s*,\s*)?access:\s*\.(\w+)', block)
        assert len(rows) == len(declared), f"parsed {len(rows)} of {len(declared)} routes in {path}"
        return [
            (method, raw.strip('"') if raw.startswith('"') else _constant(raw), bool(prefix), access)
            for method, raw, prefix, access in rows
        ]
    raise LookupError("no route table (static let endpoints: [Route]) under Sources/")


def concrete_path(path: str, is_prefix: bool) -> str:
    """A request path that reaches the route: prefix routes get a plausible last segment."""
    if not is_prefix:
        return path
    sample = "someone@example.com" if "unban" in path or path.endswith("/tokens/") else "_oauth2_proxy-" + "0" * 32
    return path + sample
