"""The documents against the tree: docs/architecture.md lists every folder and file under
Sources/ and names nothing that is not there; every docs/ file a comment or a document names
exists. (No stack: these read the checkout.)"""

import re
import subprocess

from harness.stack import ROOT

ARCHITECTURE = ROOT / "docs" / "architecture.md"
SOURCES = ROOT / "Sources"
# Top-level folders whose paths the architecture names (a backticked `openresty/gateway.conf`).
TOP_LEVEL = ("Sources/", "Fuzz/", "openresty/", "scripts/", "Tests/", "docs/", "deploy/", "dev/", "bench/", "ui/")


def sections(text: str) -> dict:
    """{"## title": body} of a Markdown document."""
    parts = re.split(r"^(## .+)$", text, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def table_rows(body: str) -> list:
    """The cells of each row of the Markdown tables in `body` (header and rule left out)."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")] for line in body.splitlines() if line.startswith("|")]
    return [row for row in rows if not set("".join(row)) <= set("-: ")][1:] if rows else []


def backticked(text: str) -> list:
    return re.findall(r"`([^`\n]+)`", text)


def source_table(text: str) -> dict:
    """{folder: {file, ...}} from the architecture's "Source files" table."""
    table = {}
    for row in table_rows(sections(text)["## Source files"]):
        (folder,) = backticked(row[0])
        table[folder] = set(backticked(row[1]))
    return table


def source_tree() -> dict:
    """{"Sources/<folder>/": {file, ...}} for every folder under Sources/ that holds files."""
    tree = {}
    for path in sorted(SOURCES.rglob("*")):
        if path.is_file():
            tree.setdefault(f"{path.parent.relative_to(ROOT)}/", set()).add(path.name)
    return tree


def current_text(text: str) -> str:
    """The document without the "before" column of "Where the old files went" (paths that are
    gone on purpose); everything else describes the tree as it is."""
    old = sections(text).get("## Where the old files went", "")
    kept = "\n".join(" | ".join(row[1:]) for row in table_rows(old))
    return text.replace(old, "\n" + kept + "\n") if old else text


def missing_names(text: str) -> list:
    """Backticked paths and Swift file names in `text` that do not exist in the checkout."""
    swift_files = [path.relative_to(ROOT).as_posix() for path in SOURCES.rglob("*.swift")]
    folders = {path.name for path in SOURCES.rglob("*") if path.is_dir()}
    missing = []
    for name in backticked(text):
        if any(c.isspace() for c in name):
            continue  # a command, not a path
        if name.startswith(TOP_LEVEL):
            exists = any(ROOT.glob(name.rstrip("/"))) if any(c in name for c in "*?[") else (ROOT / name).exists()
        elif name.endswith(".swift"):  # a file name, or a path inside a target (`Routing/Route.swift`)
            exists = (ROOT / name).exists() or any(file.endswith("/" + name) for file in swift_files)
        elif re.fullmatch(r"[A-Z][A-Za-z]+/", name):
            exists = name.rstrip("/") in folders
        else:
            continue
        if not exists:
            missing.append(name)
    return missing


def test_the_architecture_lists_every_folder_and_file_under_sources():
    table, tree = source_table(ARCHITECTURE.read_text()), source_tree()
    lines = [
        f"{folder}: the doc lists {sorted(table.get(folder, set()))}, the tree holds {sorted(files)}"
        for folder, files in tree.items()
        if table.get(folder) != files
    ]
    lines += [f"{folder}: listed, not in the tree" for folder in table.keys() - tree.keys()]
    assert lines == [], 'docs/architecture.md, "Source files":\n' + "\n".join(lines)


def test_every_path_the_architecture_names_exists():
    assert missing_names(current_text(ARCHITECTURE.read_text())) == []


def test_the_checks_see_a_missing_file_and_a_listed_ghost():
    text = ARCHITECTURE.read_text()
    assert missing_names("`ScanPage.swift`, `Sources/Handlers/Admin/Paging.swift`, `Gone/`") == ["ScanPage.swift", "Gone/"]
    assert missing_names(current_text(text)) == [] and "SessionIndex.swift" in current_text(text)
    ghost = text.replace("`Paging.swift` |", "`Paging.swift`, `ScanPage.swift` |")
    assert source_table(ghost)["Sources/Handlers/Admin/"] - source_tree()["Sources/Handlers/Admin/"] == {"ScanPage.swift"}


def tracked_text_files() -> list:
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    files = []
    for name in names:
        path = ROOT / name
        if path.is_file() and path.suffix not in (".png", ".jpg", ".svg", ".ico") and path.stat().st_size < 2_000_000:
            try:
                files.append((name, path.read_text()))
            except UnicodeDecodeError:
                continue
    return files


def test_every_docs_file_named_in_the_code_and_the_documents_exists():
    """`docs/<name>` in a comment, a script or a document, and a relative link between the
    documents (`[api.md](api.md)`), name a file that exists."""
    missing = []
    for name, text in tracked_text_files():
        for target in re.findall(r"(?<![\w./-])(docs/[\w.-]+\.(?:md|yaml))", text):
            if not (ROOT / target).exists():
                missing.append(f"{name}: {target}")
        if name.startswith("docs/") or name == "README.md":
            base = (ROOT / name).parent
            for target in re.findall(r"\]\(([\w./-]+\.md)(?:#[^)]*)?\)", text):
                if not (base / target).exists():
                    missing.append(f"{name}: link {target}")
    assert missing == [], "\n".join(missing)
