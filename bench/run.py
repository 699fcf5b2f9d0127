"""`make bench`: run every benchmark in this folder in one process, print one table, write bench/results.json.

Each bench/bench_<topic>.py exposes ``run(quick=False) -> list of rows``; a row is a dict with
"benchmark", "case", "value", "unit" and "note". Targets are ratios measured side by side in the same
run (machines are shared and noisy), never absolute timings.
    python bench/run.py              # all benchmarks
    python bench/run.py conv --quick # one topic, fewer repeats
"""
import argparse
import importlib
import json
import os
import pathlib
import platform
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def topics():
    """Benchmark topics present in this folder (bench_<topic>.py)."""
    return sorted(path.stem[len("bench_"):] for path in HERE.glob("bench_*.py"))


def format_rows(rows):
    """Rows as an aligned text table."""
    header = ("benchmark", "case", "value", "unit", "note")
    cells = [header] + [(row["benchmark"], row["case"], f"{row['value']:.3g}", row["unit"], row.get("note", ""))
                        for row in rows]
    widths = [max(len(str(line[i])) for line in cells) for i in range(len(header) - 1)]
    lines = []
    for index, line in enumerate(cells):
        lines.append("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)) + "  " + line[-1])
        if index == 0:
            lines.append("-" * len(lines[0]))
    return "\n".join(lines)


def main(argv=None):
    """Run the chosen benchmark topics, print the table and write the JSON results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("topics", nargs="*", help=f"topics to run (default: all of {', '.join(topics())})")
    parser.add_argument("--quick", action="store_true", help="fewer repeats, for a fast look")
    parser.add_argument("--out", default=str(HERE / "results.json"))
    args = parser.parse_args(argv)
    unknown = sorted(set(args.topics) - set(topics()))
    if unknown:
        parser.error(f"unknown topic(s) {unknown}; choose from {', '.join(topics())}")
    import hpml_helpers  # noqa: F401  (MXNet numpy shim)

    rows = []
    for topic in args.topics or topics():
        print(f"running bench_{topic} ...", flush=True)
        start = time.perf_counter()
        module = importlib.import_module(f"bench.bench_{topic}")
        rows += module.run(quick=args.quick)
        print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)
    from hpml_helpers import backends

    cpu = backends.cpu_info()
    results = {"machine": {"processor": cpu.get("model") or platform.processor(), "cpus": len(os.sched_getaffinity(0)),
                           "python": platform.python_version(), "date": time.strftime("%Y-%m-%d")},
               "quick": args.quick, "rows": rows}
    pathlib.Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    print(format_rows(rows))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
