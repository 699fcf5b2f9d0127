"""Execute the workshop notebooks in smoke mode (tests) or full mode (``make notebooks``).

Smoke mode sets ``HPML_SMOKE=1``, which every notebook's parameters cell reads to shrink its sizes.
Each run records the wall time, the kernel's peak resident memory, the peak memory of the kernel and
every process it started (Horovod ranks, parameter servers, TensorFlow workers) together, and the key
results a notebook reports with ``hpml_helpers.report.key_result`` (display data of the MIME type
``report.KEY_RESULT_MIME``, which the learner never sees as text) into a JSON results file.
Executed copies (and HTML when asked) are written even when a cell fails, so nothing is lost.

Command line:
    python -m tools.notebook_runner --mode full --out build/notebooks --html
    python -m tools.notebook_runner --mode smoke 00-setup-check
(from the repository root). Used by tests/test_notebooks.py, tests/test_docs.py and the Makefile.
"""
import argparse
import json
import os
import pathlib
import sys
import threading
import time

if __package__ in (None, ""):  # run as a file (python tools/notebook_runner.py): the kit must be importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

from hpml_helpers.paths import BUILD_DIR, NOTEBOOK_DIR  # noqa: E402
from hpml_helpers.report import collect_key_results  # noqa: E402
MODES = ("smoke", "full")
_PEAK_MARKER = "HPML_PEAK_RSS_KB"
# The kernel's own peak: VmHWM from /proc (reset when the kernel program starts), else ru_maxrss. On Linux
# ru_maxrss also remembers the process the kernel was started from (fork + exec), e.g. a big pytest.
_PEAK_CELL = (f"import resource as _resource\n"
              f"try:\n"
              f"    _peak = next(int(line.split()[1]) for line in open('/proc/self/status') if line.startswith('VmHWM'))\n"
              f"except (OSError, StopIteration):\n"
              f"    _peak = _resource.getrusage(_resource.RUSAGE_SELF).ru_maxrss\n"
              f"print('{_PEAK_MARKER}', _peak)")


class MemoryMonitor:
    """Samples the memory of a Jupyter kernel started by this process and of all its descendants.

    Memory is PSS (proportional set size): a page shared by several processes, e.g. a library every
    worker maps, is split between them, so the sum over processes is what they take together. Where
    PSS cannot be read it falls back to RSS, which counts shared pages in every process (an overestimate).
    """

    def __init__(self, interval=0.25):
        self.interval = interval
        self.peak_bytes = 0
        self._since = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hpml-memory-monitor", daemon=True)

    def __enter__(self):
        self._since = time.time() - 1.0  # kernels started before this run (a JupyterLab's) are not ours
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()

    def _kernels(self):
        import psutil

        for child in psutil.Process().children(recursive=True):
            try:
                if child.create_time() >= self._since and any("ipykernel" in part for part in child.cmdline()):
                    yield child
            except psutil.Error:  # ended between listing and reading
                continue

    @staticmethod
    def _memory(process):
        import psutil

        try:
            try:
                return process.memory_full_info().pss
            except (psutil.AccessDenied, AttributeError):
                return process.memory_info().rss
        except psutil.Error:
            return 0

    def sample(self):
        """Bytes used now by the kernel(s) and their descendants; the peak is kept."""
        import psutil

        total = 0
        for kernel in self._kernels():
            try:
                processes = [kernel, *kernel.children(recursive=True)]
            except psutil.Error:
                continue
            total += sum(self._memory(process) for process in processes)
        self.peak_bytes = max(self.peak_bytes, total)
        return total

    def _run(self):
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)


class NotebookFailed(RuntimeError):
    """A cell raised; the message holds the cell's source and the error."""


def notebook_paths(names=None):
    """The notebooks in notebooks/, in order; ``names`` picks some by stem (e.g. "00-setup-check")."""
    paths = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]-*.ipynb"))
    if not names:
        return paths
    by_stem = {path.stem: path for path in paths}
    unknown = [name for name in names if name not in by_stem]
    if unknown:
        raise ValueError(f"unknown notebook(s) {unknown}; choose from: {', '.join(by_stem)}")
    return [by_stem[name] for name in names]


def _outputs_text(cell):
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif "data" in output and "text/plain" in output["data"]:
            parts.append(output["data"]["text/plain"])
    return "".join(parts)


def run_notebook(path, mode="smoke", cell_timeout=600, output_dir=None, html=False):
    """Execute one notebook; return {notebook, mode, ok, seconds, peak_rss_mb, peak_total_mb, ...}."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    path = pathlib.Path(path)
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(_PEAK_CELL))
    saved_env = {name: os.environ.get(name) for name in ("HPML_SMOKE", "MPLBACKEND")}
    os.environ["HPML_SMOKE"] = "1" if mode == "smoke" else "0"  # the kernel inherits this
    os.environ.pop("MPLBACKEND", None)  # a non-inline backend would keep plots out of the notebook
    client = NotebookClient(notebook, timeout=cell_timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    error = None
    monitor = MemoryMonitor()
    try:
        with monitor:
            client.execute()
    except CellExecutionError as failure:
        error = str(failure)
    finally:
        seconds = time.perf_counter() - start
        for name, value in saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    peak_kb = None
    peak_text = _outputs_text(notebook.cells[-1])
    if _PEAK_MARKER in peak_text:
        peak_kb = int(peak_text.split(_PEAK_MARKER)[1].split()[0])
    notebook.cells.pop()  # the measuring cell is ours, not the notebook's
    reported = [payload for cell in notebook.cells if cell.cell_type == "code"
                for payload in collect_key_results(cell.outputs)]
    key_results = [payload["text"] for payload in reported]
    figures = sum("image/png" in output.get("data", {}) for cell in notebook.cells
                  if cell.cell_type == "code" for output in cell.outputs)
    if output_dir is not None:
        output_dir = pathlib.Path(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, output_dir / path.name)
        if html:
            from nbconvert import HTMLExporter

            body, _ = HTMLExporter().from_notebook_node(notebook)
            (output_dir / f"{path.stem}.html").write_text(body, encoding="utf-8")
    return {"notebook": path.stem, "mode": mode, "ok": error is None, "seconds": round(seconds, 1),
            "peak_rss_mb": round(peak_kb / 1024, 1) if peak_kb else None,
            "peak_total_mb": round(monitor.peak_bytes / 2**20, 1) if monitor.peak_bytes else None,
            "figures": figures, "key_results": key_results,
            "key_values": [payload["values"] for payload in reported], "error": error}


def record(result, results_file):
    """Merge one result into the JSON results file (keyed by notebook and mode)."""
    results_file = pathlib.Path(results_file)
    results_file.parent.mkdir(parents=True, exist_ok=True)
    table = json.loads(results_file.read_text()) if results_file.exists() else {}
    table[f"{result['notebook']}:{result['mode']}"] = {key: value for key, value in result.items()
                                                       if key != "error"} | {"failed": bool(result["error"])}
    results_file.write_text(json.dumps(table, indent=2, sort_keys=True) + "\n")


def format_table(results):
    """A Markdown table of results (notebook, mode, wall time, peak memory, key results) for build/report.md."""
    lines = ["| notebook | mode | ok | wall time (s) | kernel peak (MB) | peak with workers (MB) | key result |",
             "|---|---|---|---|---|---|---|"]
    for result in results:
        lines.append(f"| {result['notebook']} | {result['mode']} | {'yes' if result['ok'] else 'NO'} | "
                     f"{result['seconds']} | {result['peak_rss_mb']} | {result.get('peak_total_mb')} | "
                     f"{'; '.join(result['key_results'])} |")
    return "\n".join(lines)


def main(argv=None):
    """Run notebooks from the command line and print a table; exit 1 when any failed."""
    parser = argparse.ArgumentParser(description="Execute the HPML-CNN notebooks")
    parser.add_argument("names", nargs="*", help="notebook stems (default: all)")
    parser.add_argument("--mode", choices=MODES, default="full")
    parser.add_argument("--out", default=str(BUILD_DIR / "notebooks"),
                        help="folder for executed copies")
    parser.add_argument("--html", action="store_true", help="also write HTML copies")
    parser.add_argument("--results", default=str(BUILD_DIR / "notebook_results.json"))
    parser.add_argument("--report", default=None, help="also write the table to this Markdown file")
    parser.add_argument("--cell-timeout", type=int, default=900)
    args = parser.parse_args(argv)
    results = []
    for path in notebook_paths(args.names):
        print(f"running {path.name} ({args.mode} mode) ...", flush=True)
        result = run_notebook(path, args.mode, args.cell_timeout, args.out, args.html)
        record(result, args.results)
        results.append(result)
        print(f"  {'ok' if result['ok'] else 'FAILED'} in {result['seconds']} s, "
              f"kernel peak {result['peak_rss_mb']} MB, with workers {result['peak_total_mb']} MB", flush=True)
        if result["error"]:
            print(result["error"][-3000:], file=sys.stderr)
    table = format_table(results)
    print(table)
    if args.report:
        pathlib.Path(args.report).parent.mkdir(parents=True, exist_ok=True)
        pathlib.Path(args.report).write_text(f"# Notebook run ({args.mode} mode)\n\n{table}\n")
    return 0 if all(result["ok"] for result in results) else 1


if __name__ == "__main__":
    sys.exit(main())
