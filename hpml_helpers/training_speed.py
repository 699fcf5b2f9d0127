"""The speed knobs of CPU training, measured: oneDNN on/off, threads, mixed bfloat16, XLA; Keras vs Gluon.

- ``keras_training_speed`` runs the worker script ``workers/keras_training_speed.py`` in a fresh Python
  (TensorFlow reads TF_ENABLE_ONEDNN_OPTS at import, so each setting needs its own process) through
  ``run_worker``, which enforces a timeout and reports the script's last output lines on failure.
  Its workloads include ResNet-50 and ResNet-101 (``keras.applications``, no weights), the real networks of
  slide 59, at any ``image_size``.
- ``framework_speed`` is Keras vs Gluon on the same model and loop; ``speed_ratios`` and ``plot_speeds``
  and ``speed_table`` summarize the measurements.
Used by notebooks 06-compute-and-hardware and 07-parameter-server.
"""
import os
import pathlib
import subprocess
import sys
import time

from .paths import REPO_ROOT
from .workers._common import parse_result_line
from .validation import (check_bool, check_choice, check_number, check_positive_int, check_positive_number,
                         check_seed, check_records, check_sequence, check_string)

WORKER = pathlib.Path(REPO_ROOT) / "hpml_helpers" / "workers" / "keras_training_speed.py"
PRECISIONS = ("float32", "mixed_bfloat16")
WORKLOADS = ("lenet5", "conv_block", "resnet50", "resnet101")
# conv_block: ~1 s per step with oneDNN off; the ResNets (keras.applications, 224x224): ~1 s per step on 2 cores,
# batch 2 because their training process alone peaks at 1.2 GB (ResNet-50) to 1.8 GB (ResNet-101 at batch 4)
DEFAULT_BATCH_SIZES = {"lenet5": 128, "conv_block": 16, "resnet50": 2, "resnet101": 2}


class WorkerError(RuntimeError):
    """A worker script started by ``run_worker`` failed, timed out or reported nothing."""


def run_worker(script, args=(), env=None, timeout=180, name=None):
    """Run ``script`` with the kit's Python and extra ``env`` vars; returns the dicts of its result lines."""
    script = pathlib.Path(check_string(str(script) if isinstance(script, pathlib.PurePath) else script, "script"))
    if not script.is_file():
        raise ValueError(f"script must be an existing Python file, got {str(script)!r}")
    args = [check_string(arg, "args") for arg in check_sequence(args, "args", allow_empty=True)]
    env = {} if env is None else env
    if not isinstance(env, dict) or not all(isinstance(key, str) and isinstance(value, (str, int))
                                            and not isinstance(value, bool) for key, value in env.items()):
        raise TypeError(f"env must map variable names to str or int values, got {env!r}")
    timeout = check_positive_number(timeout, "timeout")
    name = script.stem if name is None else check_string(name, "name")
    child_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **{key: str(value) for key, value in env.items()})
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, str(script), *args], env=child_env, capture_output=True, text=True,
                              timeout=timeout, cwd=REPO_ROOT)
    except subprocess.TimeoutExpired as expired:
        tail = (expired.stderr or b"")
        tail = (tail.decode(errors="replace") if isinstance(tail, bytes) else tail).strip().splitlines()[-15:]
        raise WorkerError(f"{name} did not finish within {timeout:g} s (args {args}, env {env})"
                          + ("\n--- its stderr, last lines ---\n" + "\n".join(tail) if tail else "")) from None
    seconds = time.perf_counter() - start
    lines = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines())
    if done.returncode != 0:
        raise WorkerError(f"{name} failed (exit code {done.returncode}, args {args}, env {env}): "
                          f"{lines[-1] if lines else 'no error output'}\n--- its output, last lines ---\n"
                          + "\n".join(lines[-15:]))
    try:
        parsed = [parse_result_line(line) for line in done.stdout.splitlines()]
    except ValueError as error:
        raise WorkerError(f"{name}: {error}") from None
    results = [dict(result, process_seconds=round(seconds, 2)) for result in parsed if result is not None]
    if not results:
        raise WorkerError(f"{name} exited normally but printed no result line\n--- its output, last lines ---\n"
                          + "\n".join(lines[-15:]))
    return results


def _check_variants(variants):
    pairs = check_sequence(variants, "variants")
    for pair in pairs:
        if (isinstance(pair, str) or not hasattr(pair, "__len__") or len(pair) != 2 or pair[0] not in PRECISIONS
                or not isinstance(pair[1], bool)):
            raise ValueError(f"variants must be (precision, jit_compile) pairs with precision in {PRECISIONS} "
                             f"and jit_compile True/False, got {variants!r}")
    return [(precision, jit) for precision, jit in pairs]


def keras_training_speed(workloads=("lenet5", "conv_block"), variants=(("float32", False),), onednn=True, threads=None,
                         batch_size=None, seconds=2.0, timeout=300, image_size=224):
    """Keras training images/s per workload and (precision, jit_compile), in a fresh process.

    Workloads: "lenet5", "conv_block", and "resnet50" / "resnet101" (``keras.applications``, no weights, on
    ``image_size`` x ``image_size`` images; each result has its own ``peak_rss_mb``, so run the ResNets one
    call each where memory is tight).

    ``train_gflops`` counts a training step as 3 forward passes (forward, and backward for the
    activations and for the weights): the usual estimate, slightly high for the first layer."""
    workloads = check_sequence(workloads, "workloads")
    if any(not isinstance(w, str) or w not in WORKLOADS for w in workloads):
        raise ValueError(f"workloads must be a list drawn from {', '.join(WORKLOADS)}, got {workloads!r}")
    variants = _check_variants(variants)
    onednn = check_bool(onednn, "onednn")
    sizes = ([DEFAULT_BATCH_SIZES[w] for w in workloads] if batch_size is None
             else [check_positive_int(batch_size, "batch_size")] * len(workloads))
    threads = None if threads is None else check_positive_int(threads, "threads")
    seconds = check_positive_number(seconds, "seconds")
    timeout = check_positive_number(timeout, "timeout")
    image_size = check_positive_int(image_size, "image_size")
    if image_size < 32:
        raise ValueError(f"image_size must be at least 32 (the ResNets downsample 32x), got {image_size}")
    args = ["--workloads", *workloads, "--batch-sizes", *map(str, sizes), "--onednn", "on" if onednn else "off",
            "--image-size", str(image_size),
            "--seconds", repr(seconds), "--variants", *(p + ":xla" * jit for p, jit in variants)]
    args += ["--threads", str(threads)] if threads else []
    label = f"keras_training_speed(onednn={onednn}, threads={threads})"
    # HPML: oneDNN is read when TensorFlow is imported: a fresh process per setting
    return run_worker(WORKER, args, env={"TF_ENABLE_ONEDNN_OPTS": int(onednn)}, timeout=timeout, name=label)


def framework_speed(frameworks=("keras", "gluon"), num_images=2048, batch_size=128, num_epochs=2, seed=0):
    """{framework: steady training images/s} for LeNet-5 on synthetic 28x28 images, same loop."""
    from . import data, models, train

    frameworks = [check_choice(f, "frameworks", models.FRAMEWORK_CHOICES)
                  for f in check_sequence(frameworks, "frameworks")]
    num_images = check_positive_int(num_images, "num_images")
    batch_size = check_positive_int(batch_size, "batch_size")
    num_epochs = check_positive_int(num_epochs, "num_epochs")
    seed = check_seed(seed, allow_none=False)
    if len(set(frameworks)) != len(frameworks):
        raise ValueError(f"frameworks must not repeat a framework, got {frameworks!r}")
    if batch_size > num_images:
        raise ValueError(f"batch_size ({batch_size}) must be at most num_images ({num_images})")
    if num_epochs < 2:
        raise ValueError(f"num_epochs must be at least 2 (the first epoch traces the graph), got {num_epochs}")
    speeds = {}
    for framework in frameworks:
        images, labels = data.synthetic(num_images, (28, 28, 1), 10, seed=seed)
        speeds[framework] = train.train(models.lenet5(framework=framework), images, labels, framework=framework,
                                        num_epochs=num_epochs, batch_size=batch_size, progress=False,
                                        seed=seed).steady_images_per_second
    return speeds


def _check_speed_rows(rows, keys=("workload", "setting", "images_per_second")):
    rows = check_records(rows, "rows", keys, "a keras_training_speed row")
    for index, row in enumerate(rows):
        check_number(row["images_per_second"], f"rows[{index}]['images_per_second']", minimum=0)
        if "threads" in keys:
            check_positive_int(row["threads"], f"rows[{index}]['threads']")
            check_choice(row["precision"], f"rows[{index}]['precision']", PRECISIONS)
            check_bool(row["jit_compile"], f"rows[{index}]['jit_compile']")
            check_bool(row["onednn"], f"rows[{index}]['onednn']")
    return rows


def plot_speeds(rows):
    """Bars of training images/s, one panel per workload, labelled by each row's "setting"."""
    rows = _check_speed_rows(rows)
    import matplotlib.pyplot as plt

    workloads = list(dict.fromkeys(row["workload"] for row in rows))
    figure, axes = plt.subplots(len(workloads), 1, figsize=(8, 1 + 0.45 * len(rows)), squeeze=False)
    for ax, workload in zip(axes[:, 0], workloads):
        chosen = [row for row in rows if row["workload"] == workload]
        bars = ax.barh([str(row["setting"]) for row in chosen], [row["images_per_second"] for row in chosen])
        ax.bar_label(bars, fmt="%.0f", fontsize=8)
        ax.invert_yaxis()
        ax.set(title=f"{workload}: training images/s (higher is better)", xlabel="images/s")
    figure.tight_layout()
    return figure


def speed_table(rows):
    """The ``keras_training_speed`` rows as a DataFrame, one line per workload and setting."""
    from . import tables

    rows = _check_speed_rows(rows)
    columns = [c for c in ("workload", "setting", "images_per_second", "train_gflops", "first_step_seconds",
                           "peak_rss_mb") if all(c in row for row in rows)]
    return tables.table(rows, columns=columns, rename={
        "images_per_second": "images/s", "train_gflops": "training GFLOP/s",
        "first_step_seconds": "first step (s)", "peak_rss_mb": "peak memory (MB)"})


def speed_ratios(rows):
    """{workload: {knob: ratio}} from ``keras_training_speed`` rows; above 1: the first side is faster."""
    rows = _check_speed_rows(rows, ("workload", "precision", "jit_compile", "onednn", "threads", "images_per_second"))
    ratios = {}
    for workload in dict.fromkeys(row["workload"] for row in rows):
        chosen = [row for row in rows if row["workload"] == workload]
        most = max(row["threads"] for row in chosen)
        rate = {(r["precision"], r["jit_compile"], r["onednn"], r["threads"]): r["images_per_second"]
                for r in reversed(chosen)}  # the first row of a setting wins
        base = rate.get(("float32", False, True, most))
        if base is None:
            raise ValueError(f"rows hold no float32 run of {workload} with oneDNN on and {most} threads")
        pairs = {"oneDNN on / off": (base, rate.get(("float32", False, False, most))),
                 "all cores / 1 thread": (base, rate.get(("float32", False, True, 1))),
                 "mixed bfloat16 / float32": (rate.get(("mixed_bfloat16", False, True, most)), base),
                 "XLA / no XLA": (rate.get(("float32", True, True, most)), base)}
        ratios[workload] = {name: top / bottom for name, (top, bottom) in pairs.items() if top and bottom}
    return ratios
