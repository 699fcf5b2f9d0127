"""Regenerate the measured parts of docs/INSTRUCTOR.md and README.md from recorded results.

    python scripts/write_docs.py --merge-results build/notebook_results.json   # what `make docs` runs
    python scripts/write_docs.py --check    # exit 1 if a document is out of date (the tests do this)

`make docs` first brings the latest results into docs/reference/: it merges build/notebook_results.json
(from `make test` (smoke mode) and `make notebooks` (full mode); a notebook and mode run again replaces
its old entry, the others are kept) and copies bench/results.json from `make bench`, so the
numbers in the documents always come from a file a run wrote, never from typing. Each generated part
sits between `<!-- BEGIN name -->` and `<!-- END name -->` markers; everything else is hand-written.

The README's reference results are one row per notebook: a headline of at most three numbers, taken from
one of the notebook's key results (``HEADLINES`` says which; its values fill a template where one is
given). Without ``--check`` the script also writes the README's gallery: the plots listed in ``GALLERY``,
taken from the executed full-mode notebooks of `make notebooks` (build/notebooks/) and shrunk to at most
``IMAGE_WIDTH`` pixels wide under docs/images/. A missing notebook, cell or plot keeps the image already
there and says so.
"""
import argparse
import base64
import html
import io
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference"
NOTEBOOK_RESULTS = REFERENCE / "notebook_results.json"
BENCH_RESULTS = REFERENCE / "bench_results.json"
NOTEBOOKS = ROOT / "notebooks"
EXECUTED = ROOT / "build" / "notebooks"  # the executed full-mode copies `make notebooks` writes
IMAGES = ROOT / "docs" / "images"
README, INSTRUCTOR = ROOT / "README.md", ROOT / "docs" / "INSTRUCTOR.md"
BLOCKS = {"instructor-timings": INSTRUCTOR, "reference-results": README, "gallery": README}  # block -> document
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
    (("horovod_gluon_lenet5_mnist", "efficiency / control"), "Horovod + Gluon LeNet-5 MNIST training, efficiency / "
     "control (target >= 0.85)", "{:.2f}"),
    (("horovod_keras2_lenet5_mnist", "efficiency / control"), "Horovod + Keras 2 LeNet-5 MNIST training, "
     "efficiency / control (target >= 0.85)", "{:.2f}"),
    (("tf_distribute_lenet5_mnist", "efficiency / control"), "tf.distribute LeNet-5 MNIST training, efficiency / "
     "control (target >= 0.7)", "{:.2f}"),
    (("horovod_allreduce_gloo_2ranks", "alpha (latency)"), "allreduce latency alpha (Gloo, 2 local ranks)",
     "{:.0f} us"),
    (("horovod_allreduce_gloo_2ranks", "B (bandwidth)"), "allreduce bandwidth B", "{:.2f} GB/s"),
]

# The headline of a notebook's row: the first key result whose text contains "pick" (else the first key
# result), shortened to HEADLINE_NUMBERS numbers and HEADLINE_CHARS characters; or, where the run recorded
# that key result's values, "template" filled from them (str.format with the value names).
HEADLINES = {
    "04-alexnet-depth-ablation": {"pick": "test error"},
    "07-parameter-server": {"pick": "parameter server"},
    "08-allreduce-and-horovod": {"pick": "Horovod"},
    "09-large-batch-training": {"pick": "vs 32", "template": "batch {batch_size} test error: naive {naive:.1f}%, "
                                "linear + warmup {linear_warmup:.1f}% (batch 32: {small:.1f}%)"},
    "10-transfer-learning": {"pick": "labels/class"},
}
HEADLINE_NUMBERS, HEADLINE_CHARS = 3, 160
# The README's gallery: (notebook, its cell: a tag in the cell's metadata or the start of the cell's first
# line, which of the cell's PNG outputs (0: the first), caption). Image i of a notebook: docs/images/<stem>-<i>.png.
GALLERY = [
    ("04-alexnet-depth-ablation", "CHECKPOINTS = os.path.join", 0,
     "Zeiler & Fergus's layer removal repeated: test error per variant"),
    ("06-compute-and-hardware", "lenet_measured = roofline.measure_layers", 0,
     "the roofline of the machine, with LeNet-5's and AlexNet's layers on it"),
    ("07-parameter-server", "PS_BATCH, PS_LEARNING_RATE", 0,
     "synchronous vs asynchronous SGD on MXNet's parameter server: training loss per step and over wall time"),
    ("08-allreduce-and-horovod", "horovod_runs = {}", 0,
     "Horovod data parallelism: loss per image and images/s, 1 vs 2 workers"),
    ("09-large-batch-training", "gallery", 0, "linear scaling + warmup: final test error against the batch size"),
    ("10-transfer-learning", "gallery", 0, "fine-tuned vs frozen backbone vs from scratch, by labels per class"),
]
IMAGE_WIDTH = 640  # pixels, at most
# A number in a headline: with a decimal point, thousands commas, an exponent or a unit (not "LeNet-5", "batch 32").
_NUMBER = re.compile(r"(?<![\w.\-/])(?:\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(e[-+]?\d+)?"
                     r"(\s?(?:%|x(?!\w)|[A-Za-z]*/s\b|ms\b|us\b|s\b|days?\b|points?\b|[KMGT]B\b))?(?!\w)")


def _relative(path):
    path = pathlib.Path(path)
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


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


def headline_numbers(text):
    """The numbers of ``text`` that count towards a headline's limit (see ``_NUMBER``)."""
    return [match.group(0).strip() for match in _NUMBER.finditer(text)
            if any(match.groups()) or "," in match.group(0)]


def shorten(text, max_numbers=HEADLINE_NUMBERS, max_chars=HEADLINE_CHARS):
    """``text`` cut after its last whole clause ("; ", else ", ") within ``max_numbers`` and ``max_chars``."""
    text = " ".join(str(text).split())

    def fits(part, room=0):
        return len(part) + room <= max_chars and len(headline_numbers(part)) <= max_numbers

    if fits(text):
        return text
    clauses = re.split(r";\s+", text)
    parts, separator = (clauses, "; ") if fits(clauses[0], 2) else (re.split(r",\s+", clauses[0]), ", ")
    kept = parts[:1]
    for part in parts[1:]:
        if not fits(separator.join(kept + [part]), 2):
            break
        kept.append(part)
    while len(kept) > 1 and not headline_numbers(kept[-1]):  # a clause without its number ("without 6") goes
        kept.pop()
    kept = separator.join(kept)
    if not fits(kept, 2):
        kept = kept[:max_chars - 2].rstrip()
    return kept + " …"


def headline(stem, entry):
    """The row text for ``entry`` (a notebook's full-mode result): one key result, shortened."""
    texts = entry.get("key_results") or []
    if not texts:
        return "no key result recorded"
    choice = HEADLINES.get(stem, {})
    index = next((index for index, text in enumerate(texts) if choice.get("pick", "") in text), 0)
    values = entry.get("key_values") or []
    text = texts[index]
    if "template" in choice and index < len(values) and isinstance(values[index], dict):
        try:
            text = choice["template"].format(**values[index])
        except (KeyError, IndexError, ValueError, TypeError):  # values of another version of the notebook
            pass
    return shorten(text)


def reference_results(results, bench):
    """README's reference results: one headline per notebook (full mode), then the benchmark rows."""
    lines = ["| notebook (full mode) | headline result |", "|---|---|"]
    for stem, entries in _notebooks(results):
        full = entries["full"]
        text = "not run in full mode yet" if full is None else headline(stem, full) + ("" if full["ok"] else
                                                                                        " (FAILED)")
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
    pattern = re.compile(rf"(<!-- BEGIN {re.escape(name)} -->\n)(?:.*?\n)?(<!-- END {re.escape(name)} -->)", re.S)
    if not pattern.search(text):
        raise ValueError(f"markers <!-- BEGIN {name} --> / <!-- END {name} --> not found")
    return pattern.sub(lambda match: match.group(1) + content + "\n" + match.group(2), text, count=1)


def find_cell(cells, key):
    """The first code cell tagged ``key``, else the first whose first line starts with ``key``; or None."""
    code = [cell for cell in cells if cell.get("cell_type") == "code"]
    for cell in code:
        if key in cell.get("metadata", {}).get("tags", []):
            return cell
    for cell in code:
        source = "".join(cell.get("source", ""))
        if source.lstrip().startswith(key):
            return cell
    return None


def _small_png(data, path, width=IMAGE_WIDTH):
    """Write the PNG bytes ``data`` to ``path``, scaled down to ``width`` pixels at most, with a small palette."""
    from PIL import Image

    image = Image.open(io.BytesIO(data)).convert("RGB")
    if image.width > width:
        image = image.resize((width, max(1, round(image.height * width / image.width))), Image.LANCZOS)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.quantize(colors=128).save(path, optimize=True)


def gallery_images(gallery=GALLERY, images=IMAGES):
    """[(notebook, image path, caption)] of the gallery, numbered per notebook from 1."""
    numbered, count = [], {}
    for stem, _, _, caption in gallery:
        count[stem] = count.get(stem, 0) + 1
        numbered.append((stem, pathlib.Path(images) / f"{stem}-{count[stem]}.png", caption))
    return numbered


def write_gallery(executed=EXECUTED, images=IMAGES, gallery=GALLERY, width=IMAGE_WIDTH):
    """Write the gallery's images from the executed notebooks; return the paths written. Where a notebook,
    its cell or its plot is missing the image there is (if any) stays, and a line says why."""
    written = []
    for (stem, key, number, _), (_, path, _) in zip(gallery, gallery_images(gallery, images)):
        notebook = pathlib.Path(executed) / f"{stem}.ipynb"
        why = None
        try:
            if not notebook.exists():
                why = f"{_relative(notebook)} not found (run `make notebooks`)"
            else:
                cell = find_cell(json.loads(notebook.read_text()).get("cells", []), key)
                pngs = [] if cell is None else [output["data"]["image/png"] for output in cell.get("outputs", [])
                                                if "image/png" in output.get("data", {})]
                if cell is None:
                    why = f"no cell tagged or starting with {key!r} in {_relative(notebook)}"
                elif number >= len(pngs):
                    why = f"the cell {key!r} of {_relative(notebook)} has {len(pngs)} plot(s), not {number + 1}"
                else:
                    png = pngs[number]
                    _small_png(base64.b64decode("".join(png) if isinstance(png, list) else png), path, width)
        except (ValueError, OSError, ImportError, AttributeError) as error:  # unreadable notebook or image
            why = f"{_relative(notebook)} could not be read ({type(error).__name__}: {error})"
        if why:
            print(f"[docs] {_relative(path)} kept as it is: {why}")
            continue
        written.append(path)
        print(f"[docs] wrote {_relative(path)}")
    return written


def gallery_block(gallery=GALLERY, images=IMAGES, document=README, notebooks=NOTEBOOKS):
    """The README's gallery: the images that exist, three to a row, each with its caption and notebook."""
    shown = [(stem, path, caption) for stem, path, caption in gallery_images(gallery, images) if path.exists()]
    if not shown:
        return "No plots yet: `make notebooks`, then `make docs`, puts the full run's plots here."
    base = pathlib.Path(document).parent

    def link(path):
        path = pathlib.Path(path)
        return path.relative_to(base).as_posix() if path.is_relative_to(base) else path.as_posix()

    cells = [f'<a href="{link(pathlib.Path(notebooks) / f"{stem}.ipynb")}"><img src="{link(path)}" width="280" '
             f'alt="{html.escape(caption)}"></a><br>{caption} (`{stem}`)' for stem, path, caption in shown]
    rows = [cells[start:start + 3] for start in range(0, len(cells), 3)]
    columns = min(3, len(cells))
    lines = ["| " + " | ".join([""] * columns) + " |", "|" + "---|" * columns]
    lines += ["| " + " | ".join(row + [""] * (columns - len(row))) + " |" for row in rows]
    return "\n".join(lines)


def current_results(results, notebooks=NOTEBOOKS):
    """The entries of ``results`` whose notebook is still in ``notebooks``: the results of a notebook that was
    renamed or split stay in the results file but leave the documents."""
    return {key: entry for key, entry in results.items()
            if (pathlib.Path(notebooks) / f"{entry['notebook']}.ipynb").exists()}


def render():
    """{path: new text} for every generated document."""
    results, bench = current_results(_load(NOTEBOOK_RESULTS)), _load(BENCH_RESULTS)
    blocks = {"instructor-timings": instructor_timings(results),
              "reference-results": reference_results(results, bench), "gallery": gallery_block()}
    texts = {}
    for name, path in BLOCKS.items():
        texts[path] = replace_block(texts.get(path, path.read_text()), name, blocks[name])
    return texts


def merge_results(source, target=NOTEBOOK_RESULTS):
    """Copy the entries of the results file ``source`` (a run's build/notebook_results.json) into ``target``:
    a notebook and mode run now replaces its old entry, and every other entry is kept, so a run of one
    notebook does not drop the reference results of the others."""
    source, target = pathlib.Path(source), pathlib.Path(target)
    merged = json.loads(target.read_text()) if target.exists() else {}
    new = json.loads(source.read_text())
    merged.update(new)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(merged, indent=2, sort_keys=True) + "\n")
    return sorted(new)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check that the documents are up to date")
    parser.add_argument("--merge-results", metavar="FILE",
                        help="first merge this notebook results file into docs/reference/notebook_results.json")
    args = parser.parse_args(argv)
    if args.merge_results:
        if pathlib.Path(args.merge_results).exists():
            print(f"[docs] merged {', '.join(merge_results(args.merge_results))} into {NOTEBOOK_RESULTS.relative_to(ROOT)}")
        else:
            print(f"[docs] {args.merge_results} does not exist: nothing merged")
    if not args.check:
        write_gallery()
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
