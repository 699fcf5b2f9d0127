"""Compute and hardware: this machine's roofline, where CNN layers sit on it, and the speed knobs, measured.

- Roofs: ``memory_bandwidth`` (a large NumPy copy; the GEMM peak comes from ``bench.gemm_gflops``) and
  ``tensorflow_roofline(device)`` (both roofs on a TensorFlow device, e.g. "/GPU:0").
- Layers: ``count_architecture(build)`` costs a Keras model without allocating its weights;
  ``layer_intensities`` gives each conv/dense layer's FLOPs, bytes and intensity; ``measure_layers`` times them.
- Roofline: ``attainable_gflops`` = min(peak, intensity x bandwidth), ``ridge_point``, ``bound``,
  ``plot_roofline`` (with the ``GPU_DATASHEETS`` roofs of ``gpu_rooflines``).
- Knobs: ``run_snippet`` runs code in a fresh process with its own environment (TensorFlow reads
  TF_ENABLE_ONEDNN_OPTS at import); ``keras_training_speed`` measures oneDNN on/off, threads, mixed bfloat16
  and XLA that way; ``framework_speed`` is Keras vs Gluon; ``speed_ratios`` and ``plot_speeds`` summarize them;
  ``plot_model_costs`` draws ``cost.compare`` rows.

Bytes moved by a layer, the assumption behind every intensity here: its weights (biases included) once, plus
its input and output activations for each image, float32, each read or written once (no cache reuse).
Used by notebook 06-compute-and-hardware.
"""
import json
import math
import os
import subprocess
import sys
import time

from . import backends

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BYTES_PER_VALUE = {"float32": 4, "bfloat16": 2, "float16": 2}
PRECISIONS = ("float32", "mixed_bfloat16")
WORKLOADS = ("lenet5", "conv_block")
DEFAULT_BATCH_SIZES = {"lenet5": 128, "conv_block": 16}  # conv_block: ~1 s per step with oneDNN off
_RESULT_MARKER = "HPML_SNIPPET_RESULT "

# NVIDIA datasheets, https://www.nvidia.com/en-us/data-center/{v100,h100,h200}/. Tensor = FP16/BF16 tensor
# cores, dense (the H100/H200 pages print 1,979 TFLOP/s "with sparsity", twice the dense number).
_SHEET_KEYS = ("fp32_tflops", "tensor_tflops", "bandwidth_tbs", "memory_gb", "source")
GPU_DATASHEETS = {name: dict(zip(_SHEET_KEYS, values)) for name, values in {
    "V100 SXM2": (15.7, 125.0, 0.9, 32, "NVIDIA V100 datasheet, https://www.nvidia.com/en-us/data-center/v100/"),
    "H100 SXM": (67.0, 989.0, 3.35, 80, "NVIDIA H100 datasheet, https://www.nvidia.com/en-us/data-center/h100/"),
    "H200 SXM": (67.0, 989.0, 4.8, 141, "NVIDIA H200 datasheet, https://www.nvidia.com/en-us/data-center/h200/"),
}.items()}

# Published ImageNet top-1 accuracy (single centre crop, ILSVRC-2012 validation set).
_KERAS_TABLE = "Keras Applications table, https://keras.io/api/applications/"
PUBLISHED_TOP1 = {
    "AlexNet": (56.5, "torchvision AlexNet_Weights.IMAGENET1K_V1 (acc@1 56.522), same single-tower layout "
                      "as counted here; Krizhevsky et al. 2012, Table 2: one CNN, 40.7% top-1 error = 59.3%"),
    "VGG-16": (71.3, _KERAS_TABLE), "InceptionV3": (77.9, _KERAS_TABLE),
    "ResNet-50": (74.9, _KERAS_TABLE), "ResNet-101": (76.4, _KERAS_TABLE),
}


class SnippetError(RuntimeError):
    """A snippet run by ``run_snippet`` failed, timed out or reported nothing."""


def _positive(value, name, kind=(int, float)):
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0 or not math.isfinite(value):
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    return value


def _positive_int(value, name):
    return _positive(value, name, int)


# --- Memory bandwidth and model cost without weights ---
def memory_bandwidth(sizes_mb=(1, 16, 64, 256), threads=None, repeats=5):
    """GB/s of ``np.copyto`` per array size (MB per array; read + write counted: 2 x size moved)."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from .bench import best_time

    if not sizes_mb or not all(isinstance(s, (int, float)) and not isinstance(s, bool) and s > 0 for s in sizes_mb):
        raise ValueError(f"sizes_mb must be a non-empty list of positive sizes in MB, got {sizes_mb!r}")
    threads = backends.usable_cpus() if threads is None else _positive_int(threads, "threads")
    rows = []
    with ThreadPoolExecutor(threads) as pool:  # NumPy releases the GIL while copying: threads copy in parallel
        for size in sizes_mb:
            source = np.ones(int(size * 2 ** 20) // 4, dtype=np.float32)
            target = np.empty_like(source)
            parts = [slice(i * source.size // threads, (i + 1) * source.size // threads) for i in range(threads)]

            def copy():
                list(pool.map(lambda part: np.copyto(target[part], source[part]), parts))

            calls = max(1, int(2 ** 28 // source.nbytes))  # small copies: repeat so a timing is long enough
            seconds = best_time(lambda: [copy() for _ in range(calls)], repeats=repeats) / calls
            rows.append({"megabytes": size, "seconds": seconds, "gb_per_s": 2 * source.nbytes / seconds / 1e9})
            del source, target
    return rows


def count_architecture(build):
    """(model, cost.Cost) of ``build()``, a Keras model built without allocating its weights."""
    import keras

    from . import cost

    if not callable(build) or isinstance(build, keras.Model):  # a model is callable too: not what we need
        raise TypeError(f"build must be a function returning a Keras model, got {type(build).__name__}")
    # Keras 3 defers initializing variables created in a StatelessScope; we never initialize them.
    from keras.src.backend.common import global_state

    pending = list(global_state.get_global_attribute("uninitialized_variables", []) or [])
    try:
        with keras.StatelessScope(initialize_variables=False):
            model = build()
            counted = cost.count(model)
    finally:  # forget our variables, so no later scope initializes them behind our back
        global_state.set_global_attribute("uninitialized_variables", pending)
    return model, counted


# --- Arithmetic intensity and the roofline model ---
def _leaf_layers(model, prefix=""):
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer, prefix + layer.name + "/")
        else:
            yield prefix + layer.name, layer


def layer_intensities(model, batch_size=1, dtype="float32", layer_types=("Conv2D", "Dense")):
    """One row per conv/dense layer: macs, flops, bytes moved, intensity (FLOP/byte) for a batch."""
    from . import cost

    _positive_int(batch_size, "batch_size")
    if dtype not in BYTES_PER_VALUE:
        raise ValueError(f"dtype must be one of {', '.join(BYTES_PER_VALUE)}, got {dtype!r}")
    size, layers, rows = BYTES_PER_VALUE[dtype], dict(_leaf_layers(model)), []
    for row in cost.count(model).rows:
        if row["type"] not in layer_types or row["name"] not in layers:
            continue  # shared layers appear once, under their own name
        inputs, outputs = math.prod(layers[row["name"]].input.shape[1:]), math.prod(row["output_shape"])
        flops = 2 * row["macs"] * batch_size
        moved = size * (row["params"] + batch_size * (inputs + outputs))
        rows.append({"name": row["name"], "type": row["type"], "params": row["params"], "macs": row["macs"],
                     "input_elements": inputs, "output_elements": outputs, "batch_size": batch_size,
                     "flops": flops, "bytes": moved, "intensity": flops / moved})
    return rows


def attainable_gflops(intensity, peak_gflops, bandwidth_gbs):
    """The roofline: min(peak, intensity x bandwidth), for a number or an array of intensities."""
    import numpy as np

    _positive(peak_gflops, "peak_gflops"), _positive(bandwidth_gbs, "bandwidth_gbs")
    values = np.asarray(intensity, dtype=float)
    if np.any(~(values > 0)):
        raise ValueError(f"intensity must be positive (FLOP per byte), got {intensity!r}")
    result = np.minimum(peak_gflops, values * bandwidth_gbs)
    return float(result) if result.ndim == 0 else result


def ridge_point(peak_gflops, bandwidth_gbs):
    """FLOP/byte where the roofline bends: below it memory bounds the speed, above it compute does."""
    return _positive(peak_gflops, "peak_gflops") / _positive(bandwidth_gbs, "bandwidth_gbs")


def bound(intensity, peak_gflops, bandwidth_gbs):
    """Which roof limits a layer: 'memory' below the ridge point, 'compute' at or above it."""
    return "memory" if _positive(intensity, "intensity") < ridge_point(peak_gflops, bandwidth_gbs) else "compute"


def gpu_rooflines(names=None):
    """{label: (peak GFLOP/s, GB/s)}: FP32 and tensor-core FP16/BF16 roofs from ``GPU_DATASHEETS``."""
    names = list(GPU_DATASHEETS) if names is None else names
    if isinstance(names, str) or any(name not in GPU_DATASHEETS for name in names):
        raise ValueError(f"names must be a list drawn from {', '.join(GPU_DATASHEETS)}, got {names!r}")
    return {f"{name} {kind}": (GPU_DATASHEETS[name][key] * 1e3, GPU_DATASHEETS[name]["bandwidth_tbs"] * 1e3)
            for name in names for kind, key in (("FP32", "fp32_tflops"), ("tensor FP16/BF16", "tensor_tflops"))}


def plot_roofline(peak_gflops, bandwidth_gbs, layers=None, others=None, label="this CPU"):
    """Roofline with layers at their intensity ({group: rows}); ``others`` are dashed roofs."""
    import matplotlib.pyplot as plt
    import numpy as np

    layers, others = layers or {}, others or {}
    if not isinstance(layers, dict) or not isinstance(others, dict):
        raise TypeError("layers must be a dict {group: rows} and others a dict {label: (peak, bandwidth)}")
    figure, ax = plt.subplots(figsize=(9, 5.5))
    x = np.logspace(-2, 4, 200)
    ax.plot(x, attainable_gflops(x, peak_gflops, bandwidth_gbs), "k-", linewidth=2,
            label=f"{label}: {peak_gflops:.0f} GFLOP/s, {bandwidth_gbs:.0f} GB/s")
    ridge = ridge_point(peak_gflops, bandwidth_gbs)
    ax.axvline(ridge, color="grey", linestyle=":", linewidth=1)
    ax.annotate(f"ridge {ridge:.1f} FLOP/B", (ridge, peak_gflops), textcoords="offset points", xytext=(4, -12),
                fontsize=8)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (name, (peak, bandwidth)) in enumerate(others.items()):
        ax.plot(x, attainable_gflops(x, peak, bandwidth), linestyle="--" if "FP32" in name else ":",
                color=colors[(index // 2) % len(colors)], linewidth=1.2, label=name)
    for marker, (group, rows) in zip("osD^v", layers.items()):
        intensity = np.array([row["intensity"] for row in rows])
        bound_at = attainable_gflops(intensity, peak_gflops, bandwidth_gbs)
        measured = [row.get("measured_gflops") for row in rows]
        measured = None if None in measured else measured
        ax.scatter(intensity, bound_at, marker=marker, facecolors="none", edgecolors="k", zorder=3,
                   label=f"{group}: bound at its intensity")
        if measured:
            ax.scatter(intensity, measured, marker=marker, zorder=3, label=f"{group}: measured alone")
        for row, y in zip(rows, measured or bound_at):
            ax.annotate(row["name"].split("/")[-1], (row["intensity"], y), fontsize=7,
                        textcoords="offset points", xytext=(3, 3))
    ax.set(xscale="log", yscale="log", xlabel="arithmetic intensity (FLOP per byte moved)",
           ylabel="GFLOP/s", title="Roofline: attainable = min(peak, intensity x bandwidth)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    return figure


def measure_layers(model, rows, repeats=5):
    """Time each row's layer alone (TensorFlow, random input, its batch size); adds measured_gflops."""
    import keras
    import tensorflow as tf

    from .bench import best_time

    _positive_int(repeats, "repeats")
    layers, measured = dict(_leaf_layers(model)), []
    for row in rows:
        if row.get("name") not in layers:
            raise ValueError(f"rows must come from layer_intensities(model): no layer {row.get('name')!r} in it")
        layer = layers[row["name"]]
        # Fresh weights (this model may have none), set to ones: a random initializer would need a
        # second copy while it runs (fc6: 151 MB more), and the kernels' speed does not depend on the values.
        config = layer.get_config()
        clone = type(layer).from_config(dict(config, kernel_initializer="ones") if "kernel_initializer" in config
                                        else config)
        inputs = tf.random.uniform((row["batch_size"],) + tuple(layer.input.shape[1:]))
        call = tf.function(clone)
        seconds = best_time(lambda: call(inputs).numpy(), repeats=repeats, warmup=2)
        measured.append(dict(row, seconds=seconds, measured_gflops=row["flops"] / seconds / 1e9))
    keras.backend.clear_session()
    return measured


# --- Subprocess measurements: each setting of oneDNN (read at TensorFlow's import) needs its own process ---
# Peak memory from VmHWM: ru_maxrss would also count the parent's size, which Linux carries over a fork.
_PRELUDE = """import json as _json
def emit(**values):
    try:
        with open("/proc/self/status") as status:
            values["peak_rss_mb"] = next(int(line.split()[1]) / 1024 for line in status if line.startswith("VmHWM"))
    except (OSError, StopIteration):  # not Linux
        values["peak_rss_mb"] = float("nan")
    print({marker!r} + _json.dumps(values), flush=True)
"""


def run_snippet(code, env=None, timeout=180, name="snippet"):
    """Run ``code`` in a new Python with extra ``env`` vars; returns the dicts it passed to ``emit(...)``."""
    if not isinstance(code, str) or not code.strip():
        raise ValueError("code must be a non-empty string of Python source")
    env = dict(env or {})
    if not all(isinstance(key, str) and isinstance(value, (str, int)) for key, value in env.items()):
        raise ValueError(f"env must map variable names to str or int values, got {env!r}")
    _positive(timeout, "timeout")
    child_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **{key: str(value) for key, value in env.items()})
    child_env["PYTHONPATH"] = os.pathsep.join(filter(None, [REPO_ROOT, os.environ.get("PYTHONPATH")]))
    source = _PRELUDE.format(marker=_RESULT_MARKER) + code
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, "-c", source], env=child_env, capture_output=True, text=True,
                              timeout=timeout, cwd=REPO_ROOT)
    except subprocess.TimeoutExpired:
        raise SnippetError(f"{name} did not finish within {timeout} s (env {env})") from None
    seconds, lines = time.perf_counter() - start, done.stderr.strip().splitlines()
    if done.returncode != 0:
        raise SnippetError(f"{name} failed (exit code {done.returncode}, env {env}): "
                           f"{lines[-1] if lines else 'no error output'}\n--- its stderr, last lines ---\n"
                           + "\n".join(lines[-15:]))
    results = [dict(json.loads(line[len(_RESULT_MARKER):]), process_seconds=round(seconds, 2))
               for line in done.stdout.splitlines() if line.startswith(_RESULT_MARKER)]
    if not results:
        raise SnippetError(f"{name} exited normally but never called emit(...): nothing to report")
    return results


_TRAINING_SNIPPET = """
import os, time, json
settings = json.loads(os.environ["HPML_SETTINGS"])
import tensorflow as tf
if settings["threads"]:
    tf.config.threading.set_intra_op_parallelism_threads(settings["threads"])  # before any op runs
from tensorflow.python.util import _pywrap_util_port
import keras, numpy as np
from hpml_helpers import backends, cost, models
rng = np.random.default_rng(0)
for workload in settings["workloads"]:
    for precision, jit_compile in settings["variants"]:
        keras.mixed_precision.set_global_policy(precision)
        keras.utils.set_random_seed(0)
        if workload == "lenet5":
            model = models.lenet5()
        else:  # two 3x3 convolutions on 56x56x64 maps: the shape of ResNet-50's first stage
            layers = keras.layers
            model = keras.Sequential([keras.Input((56, 56, 64)),
                layers.Conv2D(64, 3, padding="same", activation="relu"),
                layers.Conv2D(64, 3, padding="same", activation="relu"),
                layers.GlobalAveragePooling2D(), layers.Dense(10, dtype="float32")], name="conv_block")
        batch = settings["batch_sizes"][workload]
        x = rng.random((batch,) + tuple(model.input_shape[1:]), dtype=np.float32)
        y = rng.integers(0, 10, batch)
        model.compile(optimizer=keras.optimizers.SGD(0.01), jit_compile=jit_compile,
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        start = time.perf_counter()
        model.train_on_batch(x, y)  # the first step traces (and with XLA compiles) the graph
        first = time.perf_counter() - start
        model.train_on_batch(x, y)
        rate = 0.0
        for window in range(3):  # the best of 3 timed windows: the one least disturbed by other work
            steps, start = 0, time.perf_counter()
            while steps < 1 or time.perf_counter() - start < settings["seconds"] / 3:
                model.train_on_batch(x, y)  # returns the loss as numpy: each step is finished when timed
                steps += 1
            rate = max(rate, steps * batch / (time.perf_counter() - start))
        threads = tf.config.threading.get_intra_op_parallelism_threads() or backends.usable_cpus()
        onednn = bool(_pywrap_util_port.IsMklEnabled())
        setting = f"oneDNN {'on' if onednn else 'off'}, {threads} thread(s), {precision}" + ", XLA" * jit_compile
        emit(workload=workload, setting=setting, precision=precision, jit_compile=jit_compile, onednn=onednn,
             threads=threads, images_per_second=rate, first_step_seconds=first,
             train_gflops=3 * 2 * cost.count(model).macs * rate / 1e9)
        keras.backend.clear_session()
"""


def keras_training_speed(workloads=WORKLOADS, variants=(("float32", False),), onednn=True, threads=None,
                         batch_size=None, seconds=2.0, timeout=300):
    """Keras training images/s per workload and (precision, jit_compile), in a fresh process.

    ``train_gflops`` counts a training step as 3 forward passes (forward, and backward for the
    activations and for the weights): the usual estimate, slightly high for the first layer."""
    if isinstance(workloads, str) or not workloads or any(w not in WORKLOADS for w in workloads):
        raise ValueError(f"workloads must be a list drawn from {', '.join(WORKLOADS)}, got {workloads!r}")
    if not variants or any(len(v) != 2 or v[0] not in PRECISIONS or not isinstance(v[1], bool) for v in variants):
        raise ValueError(f"variants must be (precision, jit_compile) pairs with precision in {PRECISIONS} "
                         f"and jit_compile True/False, got {variants!r}")
    if not isinstance(onednn, bool):
        raise ValueError(f"onednn must be True or False, got {onednn!r}")
    sizes = (dict(DEFAULT_BATCH_SIZES) if batch_size is None
             else dict.fromkeys(WORKLOADS, _positive_int(batch_size, "batch_size")))
    settings = {"workloads": list(workloads), "variants": [list(v) for v in variants], "batch_sizes": sizes,
                "threads": None if threads is None else _positive_int(threads, "threads"),
                "seconds": _positive(seconds, "seconds")}
    env = {"TF_ENABLE_ONEDNN_OPTS": "1" if onednn else "0", "HPML_SETTINGS": json.dumps(settings)}
    label = f"keras_training_speed(onednn={onednn}, threads={threads})"
    return run_snippet(_TRAINING_SNIPPET, env=env, timeout=timeout, name=label)


def framework_speed(frameworks=("keras", "gluon"), num_images=2048, batch_size=128, num_epochs=2, seed=0):
    """{framework: steady training images/s} for LeNet-5 on synthetic 28x28 images, same loop."""
    from . import data, models, train

    _positive_int(num_images, "num_images")
    speeds = {}
    for framework in frameworks:
        if framework not in models.FRAMEWORK_CHOICES:
            raise ValueError(f"frameworks must be drawn from {models.FRAMEWORK_CHOICES}, got {framework!r}")
        images, labels = data.synthetic(num_images, (28, 28, 1), 10, seed=seed)
        speeds[framework] = train.train(models.lenet5(framework=framework), images, labels, framework=framework,
                                        num_epochs=num_epochs, batch_size=batch_size, progress=False,
                                        seed=seed).steady_images_per_second
    return speeds


# --- The same roofline numbers on a TensorFlow device (the NVIDIA section uses "/GPU:0") ---
def tensorflow_roofline(device="/CPU:0", n=4096, megabytes=256, dtype="float32", repeats=5):
    """(GEMM GFLOP/s, copy GB/s) on a TensorFlow device, eager so no graph rewrite skips the work."""
    import tensorflow as tf

    from .bench import best_time

    values = int(_positive(megabytes, "megabytes") * 2 ** 20) // 4
    if dtype not in BYTES_PER_VALUE:
        raise ValueError(f"dtype must be one of {', '.join(BYTES_PER_VALUE)}, got {dtype!r}")
    with tf.device(device):
        a = tf.cast(tf.random.uniform((_positive_int(n, "n"), n)), dtype)
        x = tf.zeros((values,), dtype=tf.float32)
        # reading one element back waits for the device to finish the whole operation
        gemm_seconds = best_time(lambda: tf.linalg.matmul(a, a)[0, 0].numpy(), repeats=repeats)
        copy_seconds = best_time(lambda: tf.add(x, 1.0)[0].numpy(), repeats=repeats)  # read + write each value
    return 2 * n ** 3 / gemm_seconds / 1e9, 2 * values * 4 / copy_seconds / 1e9


def plot_model_costs(table):
    """Bars of GFLOPs (2 x MACs) and of million parameters per model, from ``cost.compare`` rows."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    names = [row["model"] for row in table]
    for ax, key, scale, color, label in ((axes[0], "flops", 1e9, "tab:blue", "GFLOPs per image (forward)"),
                                         (axes[1], "params", 1e6, "tab:orange", "parameters (millions)")):
        bars = ax.bar(names, [row[key] / scale for row in table], color=color)
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
        ax.set_title(label)
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    figure.tight_layout()
    return figure


def plot_speeds(rows):
    """Bars of training images/s, one panel per workload, labelled by each row's "setting"."""
    import matplotlib.pyplot as plt

    workloads = list(dict.fromkeys(row["workload"] for row in rows))
    figure, axes = plt.subplots(len(workloads), 1, figsize=(8, 1 + 0.45 * len(rows)), squeeze=False)
    for ax, workload in zip(axes[:, 0], workloads):
        chosen = [row for row in rows if row["workload"] == workload]
        bars = ax.barh([row["setting"] for row in chosen], [row["images_per_second"] for row in chosen])
        ax.bar_label(bars, fmt="%.0f", fontsize=8)
        ax.invert_yaxis()
        ax.set(title=f"{workload}: training images/s (higher is better)", xlabel="images/s")
    figure.tight_layout()
    return figure


def speed_ratios(rows):
    """{workload: {knob: ratio}} from ``keras_training_speed`` rows; above 1: the first side is faster."""
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
