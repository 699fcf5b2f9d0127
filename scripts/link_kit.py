"""Make ``hpml_helpers`` importable in this interpreter's environment and apply the MXNet numpy shim.

Writes ``hpml-cnn.pth`` into site-packages with two lines: the repository root (so the kit imports from
any folder, notebooks and worker processes included) and ``import hpml_helpers.backends``, whose import
installs the shim (see ``hpml_helpers/backends.py``). With it, plain ``python -c "import mxnet"``,
Horovod's build and ``horovodrun --check-build`` all work with numpy 1.26. Idempotent.
Run by scripts/setup.sh and binder/postBuild.
"""
import pathlib
import sysconfig

repo_root = pathlib.Path(__file__).resolve().parent.parent
pth = pathlib.Path(sysconfig.get_paths()["purelib"]) / "hpml-cnn.pth"
content = f"{repo_root}\nimport hpml_helpers.backends\n"
if not pth.exists() or pth.read_text() != content:
    pth.write_text(content)
    print(f"[setup] linked the kit into {pth.parent}")
