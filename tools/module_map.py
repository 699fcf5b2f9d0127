"""The module map of docs/ARCHITECTURE.md, made from the modules' own docstrings.

Each row: the module, the first sentence of its docstring (its concern) and its "Used by ..." sentence.
``python -m tools.module_map`` rewrites the table in docs/ARCHITECTURE.md between its two marker comments;
``make docs`` runs it and tests/test_architecture.py checks that the committed table is current.
"""
import ast
import pathlib
import re
import sys

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = REPO_ROOT / "hpml_helpers"
DOCUMENT = REPO_ROOT / "docs" / "ARCHITECTURE.md"
BEGIN = "<!-- module map: begin (python -m tools.module_map writes it from the modules' docstrings) -->"
END = "<!-- module map: end -->"
HEADER = "| module | concern | used by |\n|---|---|---|"
# A sentence ends at ". " (or the end), but not inside ``code`` (``conv.conv2d``), "et al.", "e.g." or "i.e.".
SENTENCE_END = re.compile(r"\.(?=\s|$)")
# "Used by X", "used in X" (after "Lecture slides ...;"), or "Started by X" / "Run by X" for a worker script.
USED_BY = re.compile(r"\b(?:[Uu]sed (?:by|in)|Started by|Run by)\s+(?P<who>.+?)(?:,? or by hand.*)?$")


def _sentences(paragraph):
    """The paragraph split into sentences, ignoring dots inside double-backtick code."""
    masked = re.sub(r"``[^`]*``|\bet al\.|\be\.g\.|\bi\.e\.", lambda match: "x" * len(match.group()), paragraph)
    sentences, start = [], 0
    for match in SENTENCE_END.finditer(masked):
        sentences.append(paragraph[start:match.end()].strip())
        start = match.end()
    if paragraph[start:].strip():
        sentences.append(paragraph[start:].strip())
    return sentences


def describe(path):
    """(concern, used_by) of the module at ``path``: its docstring's first sentence and its "Used by" one."""
    docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
    paragraphs = [" ".join(part.split()) for part in docstring.split("\n\n") if part.strip()]
    if not paragraphs:
        raise ValueError(f"{path} has no docstring")
    concern = _sentences(paragraphs[0])[0]
    everything = _sentences(" ".join(paragraphs))
    # A sentence that starts with "Used by" wins over one that says "used by" on the way (a bullet's aside).
    used = next((match for match in (USED_BY.search(s) for s in everything) if match and match.start() == 0),
                None) or next((match for match in map(USED_BY.search, everything) if match), None)
    if used is None:
        raise ValueError(f"{path}'s docstring has no 'Used by ...' (or, for a worker, 'Started by ...' or 'Run by ...') sentence")
    used_by = used.group("who").rstrip(".")
    return concern.replace("|", "\\|"), used_by.replace("|", "\\|")


def module_paths():
    """Every module of the package, then every worker script, in name order."""
    modules = sorted(p for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
    workers = sorted(p for p in (PACKAGE / "workers").glob("*.py") if p.name != "__init__.py")
    return modules + workers


def table():
    """The module map as a Markdown table."""
    rows = []
    for path in module_paths():
        concern, used_by = describe(path)
        rows.append(f"| `{path.stem}` ({path.relative_to(PACKAGE)}) | {concern} | {used_by} |")
    return "\n".join([HEADER, *rows])


def updated_document(text):
    """``text`` (docs/ARCHITECTURE.md) with the table between the markers replaced by a fresh one."""
    if BEGIN not in text or END not in text:
        raise ValueError(f"{DOCUMENT} has no module-map markers ({BEGIN!r} ... {END!r})")
    before, rest = text.split(BEGIN, 1)
    _, after = rest.split(END, 1)
    return f"{before}{BEGIN}\n{table()}\n{END}{after}"


def main():
    text = DOCUMENT.read_text()
    new = updated_document(text)
    if new != text:
        DOCUMENT.write_text(new)
        print(f"module map in {DOCUMENT.relative_to(REPO_ROOT)} rewritten")
    else:
        print("module map is current")


if __name__ == "__main__":
    sys.exit(main())
