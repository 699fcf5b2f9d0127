"""The code-health rules of docs/ARCHITECTURE.md, checked on the tree: module sizes, no private names across
modules, every module documented, notebook tooling outside the learners' package, no reference to a document
or path outside the repository."""
import ast
import importlib
import pathlib
import re
import subprocess

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = REPO_ROOT / "hpml_helpers"
MODULES = sorted(path for path in PACKAGE.glob("*.py") if path.name != "__init__.py")
MAX_LINES = 420  # "none over about 400 lines"


def tracked_text_files():
    names = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True,
                           check=True).stdout.split()
    for name in names:
        path = REPO_ROOT / name
        if path.suffix in {".npz", ".png", ".gz", ".jpg"} or not path.is_file():
            continue
        try:
            yield name, path.read_text()
        except UnicodeDecodeError:
            continue


@pytest.mark.parametrize("path", MODULES, ids=[path.stem for path in MODULES])
def test_module_is_small_and_documented(path):
    source = path.read_text()
    assert len(source.splitlines()) <= MAX_LINES, f"{path.name} has {len(source.splitlines())} lines"
    tree = ast.parse(source)
    docstring = ast.get_docstring(tree)
    assert docstring and re.search(r"[Uu]sed (by|in)", docstring), f"{path.name}: docstring says where it is used"


def test_no_private_name_crosses_a_module_boundary():
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")) + sorted((REPO_ROOT / "bench").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            # Only the kit's own modules: a framework's private module (TensorFlow's build flags) is its business.
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("hpml_helpers")):
                names = [alias.name for alias in node.names]
                private = [name for name in names if name.startswith("_") and not name.startswith("__")]
                if private:
                    offenders.append(f"{path.relative_to(REPO_ROOT)}: from {node.module} import {private}")
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if node.attr.startswith("_") and not node.attr.startswith("__") and node.value.id in {
                        p.stem for p in MODULES}:
                    offenders.append(f"{path.relative_to(REPO_ROOT)}: {node.value.id}.{node.attr}")
    assert not offenders, "private names used across modules:\n" + "\n".join(offenders)


def test_architecture_document_names_every_module():
    text = (REPO_ROOT / "docs" / "ARCHITECTURE.md").read_text()
    missing = [path.stem for path in MODULES if f"`{path.stem}`" not in text]
    assert not missing, f"docs/ARCHITECTURE.md does not describe: {missing}"
    workers = sorted(p.stem for p in (PACKAGE / "workers").glob("*.py") if not p.name.startswith("__"))
    missing_workers = [name for name in workers if f"`{name}`" not in text]
    assert not missing_workers, f"docs/ARCHITECTURE.md does not list the workers: {missing_workers}"


def test_notebook_tooling_is_not_part_of_the_learners_package():
    assert (REPO_ROOT / "tools" / "notebook_runner.py").exists()
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("hpml_helpers.notebook_runner")


def test_no_file_points_outside_the_repository():
    pattern = re.compile(r"DESIGN\.md|lecture-slides|\.\./shared|/work/")
    offenders = [name for name, text in tracked_text_files() if pattern.search(text)
                 and name != "tests/test_architecture.py"]
    assert not offenders, f"files referring to documents or paths outside the repository: {offenders}"


def test_module_map_is_current():
    """The module map in docs/ARCHITECTURE.md is what `python -m tools.module_map` makes from the docstrings."""
    from tools import module_map

    text = module_map.DOCUMENT.read_text()
    assert module_map.updated_document(text) == text, "run `python -m tools.module_map` (or `make docs`)"
