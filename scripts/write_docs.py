"""Regenerate the measured parts of docs/INSTRUCTOR.md and README.md from recorded results.

    python scripts/write_docs.py            # what `make docs` runs
    python scripts/write_docs.py --check    # exit 1 if a document is out of date (the tests do this)

`make docs` first copies the latest results into docs/reference/ (build/notebook_results.json from
`make test` (smoke mode) and `make notebooks` (full mode), bench/results.json from `make bench`), so the
numbers in the documents always come from a file a run wrote, never from typing. Each generated part
sits between `<!-- BEGIN name -->` and `<!-- END name -->` markers; everything else is hand-written.
"""
import argparse
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference"
NOTEBOOK_RESULTS = REFERENCE / "notebook_results.json"
BENCH_RESULTS = REFERENCE / "bench_results.json"
DOCUMENTS = {"instructor-timings": ROOT / "docs" / "INSTRUCTOR.md", "reference-results": ROOT / "README.md"}
MODES = ("smoke", "full")
BUDGET_SECONDS, BUDGET_MB = 600, 2048  # the kit's promise per notebook in full mode on 2 cores
# Benchmark rows quoted in the README: (benchmark, case) -> how to print the value.
BENCH_ROWS = [
    (("numpy float32 GEMM", "peak"), "NumPy float32 GEMM peak", "{:.0f} GFLOP/s"),
    (("conv2d 3x3 VGG layer", "kit im2col / GEMM peak"), "kit im2col convolution, fraction of the GEMM peak "
     "(target >= 0.60)", "{:.2f}"),
    (("conv2d 3x3 VGG layer", "tf.nn.conv2d"), "TensorFlow (oneDNN) convolution, same layer", "{:.0f} GFLOP/s"),
    (("conv2d 3x3 VGG layer", "mxnet Convolution"), "MXNet (MKLDNN) convolution, same layer", "{:.0f} GFLOP/s"),
    (("train_lenet5_batch128", "keras: kit / plain"), "kit training loop vs plain `model.fit`, LeNet-5 "
     "(target >= 0.95)", "{:.2f}"),
    (("train_lenet5_batch128", "gluon: kit / plain"), "kit training loop vs plain hybridized Gluon loop "
     "(target >= 0.95)", "{:.2f}"),
    (("horovod_weak_scaling_lenet5", "efficiency"), "Horovod weak scaling, 2 workers x 1 core vs 1 x 1 "
     "(target >= 0.85)", "{:.2f}"),
    (("horovod_weak_scaling_lenet5", "control: 2 independent 1-worker jobs"), "the same without communication "
     "(the machine's ceiling)", "{:.2f}"),
    (("horovod_allreduce_gloo_2ranks", "alpha (latency)"), "allreduce latency alpha (Gloo, 2 local ranks)",
     "{:.0f} us"),
    (("horovod_allreduce_gloo_2ranks", "B (bandwidth)"), "allreduce bandwidth B", "{:.2f} GB/s"),
]


def _load(path):
    if not path.exists():
        raise FileNotFoundError(f"{path.relative_to(ROOT)} is missing: run `make test` (smoke), "
                                f"`make notebooks` (full) and `make bench`, then `make docs`")
    return json.loads(path.read_text())


def _notebooks(results):
    """Notebook stems in order, each with its smoke and full result (None where not recorded)."""
    stems = sorted({entry["notebook"] for entry in results.values()})
    return [(stem, {mode: results.get(f"{stem}:{mode}") for mode in MODES}) for stem in stems]


def _memory(entry):
    """Peak memory in MB of the kernel and the processes it started (older results: the kernel only)."""
    return entry.get("peak_total_mb") or entry["peak_rss_mb"]


def _cells(entry):
    if entry is None:
        return "not run", "not run"
    status = "" if entry["ok"] else " (FAILED)"
    memory = _memory(entry)
    return f"{entry['seconds']:.0f} s{status}", "not measured" if memory is None else f"{memory / 1024:.2f} GB"


def instructor_timings(results):
    """The instructor guide's table: per notebook, wall time and peak memory in smoke and full mode."""
    lines = ["| notebook | smoke: wall time | smoke: peak memory | full: wall time | full: peak memory | "
             "within budget (full) |", "|---|---|---|---|---|---|"]
    for stem, entries in _notebooks(results):
        smoke_time, smoke_memory = _cells(entries["smoke"])
        full_time, full_memory = _cells(entries["full"])
        full = entries["full"]
        within = ("not run" if full is None else "yes" if full["ok"] and full["seconds"] <= BUDGET_SECONDS
                  and (_memory(full) or 0) <= BUDGET_MB else "NO")
        lines.append(f"| `{stem}` | {smoke_time} | {smoke_memory} | {full_time} | {full_memory} | {within} |")
    smoke_total = sum(entries["smoke"]["seconds"] for _, entries in _notebooks(results) if entries["smoke"])
    full_total = sum(entries["full"]["seconds"] for _, entries in _notebooks(results) if entries["full"])
    lines += ["", f"All notebooks: {smoke_total / 60:.1f} minutes in smoke mode, {full_total / 60:.1f} minutes "
              f"in full mode. Budget per notebook in full mode: {BUDGET_SECONDS // 60} minutes and "
              f"{BUDGET_MB / 1024:.0f} GB, memory counted for the kernel and every process it starts."]
    return "\n".join(lines)


def reference_results(results, bench):
    """README's reference results: each notebook's key results in full mode, then the benchmark rows."""
    lines = ["| notebook (full mode) | key results |", "|---|---|"]
    for stem, entries in _notebooks(results):
        full = entries["full"]
        text = "; ".join(full["key_results"]) if full else "not run in full mode yet"
        lines.append(f"| `{stem}` | {text.replace('|', '/')} |")
    rows = {(row["benchmark"], row["case"]): row for row in bench["rows"]}
    lines += ["", "| `make bench` | value |", "|---|---|"]
    for key, label, form in BENCH_ROWS:
        if key in rows:
            lines.append(f"| {label} | {form.format(rows[key]['value'])} |")
    machine = bench.get("machine", {})
    if machine:
        described = ", ".join(f"{name} {value}" for name, value in machine.items() if not isinstance(value, dict))
        lines += ["", f"Benchmark machine: {described}."]
    return "\n".join(lines)


def replace_block(text, name, content):
    """``text`` with the part between the BEGIN/END markers called ``name`` replaced by ``content``."""
    pattern = re.compile(rf"(<!-- BEGIN {re.escape(name)} -->\n).*?(\n<!-- END {re.escape(name)} -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"markers <!-- BEGIN {name} --> / <!-- END {name} --> not found")
    return pattern.sub(lambda match: match.group(1) + content + match.group(2), text, count=1)


def render():
    """{path: new text} for every generated document."""
    results, bench = _load(NOTEBOOK_RESULTS), _load(BENCH_RESULTS)
    blocks = {"instructor-timings": instructor_timings(results),
              "reference-results": reference_results(results, bench)}
    return {path: replace_block(path.read_text(), name, blocks[name]) for name, path in DOCUMENTS.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the documents are up to date")
    args = parser.parse_args(argv)
    stale = []
    for path, text in render().items():
        if path.read_text() != text:
            stale.append(path.relative_to(ROOT))
            if not args.check:
                path.write_text(text)
                print(f"[docs] updated {path.relative_to(ROOT)}")
    if args.check and stale:
        print(f"[docs] out of date: {', '.join(map(str, stale))}; run `make docs`", file=sys.stderr)
        return 1
    if not stale:
        print("[docs] up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
