"""The roofline of this machine and where CNN layers sit on it (notebook 06-compute-and-hardware).

- Roofs: ``memory_bandwidth`` (a large NumPy copy; the GEMM peak comes from ``bench.gemm_gflops``) and
  ``tensorflow_roofline(device)`` (both roofs on a TensorFlow device, e.g. "/GPU:0", which must exist).
- Layers: ``layer_intensities`` gives each conv/dense layer's FLOPs, bytes and intensity; ``measure_layers``
  times each layer alone.
- The model: ``attainable_gflops`` = min(peak, intensity x bandwidth), ``ridge_point``, ``bound``,
  ``plot_roofline`` (with the published ``GPU_DATASHEETS`` roofs of ``gpu_rooflines``).

Bytes moved by a layer, the assumption behind every intensity here: its weights (biases included) once, plus
its input and output activations for each image, each value read or written once (no cache reuse).
Used by notebooks 06-compute-and-hardware and 07-parameter-server (the datasheets).
"""
import math
import re

from . import backends, validation
from .validation import (check_choice, check_number_array, check_positive_int, check_positive_number,
                         check_records, check_sequence, check_string)

BYTES_PER_VALUE = {"float32": 4, "bfloat16": 2, "float16": 2}

# NVIDIA datasheets, https://www.nvidia.com/en-us/data-center/{v100,h100,h200}/. Tensor = FP16/BF16 tensor
# cores, dense (the H100/H200 pages print 1,979 TFLOP/s "with sparsity", twice the dense number).
SHEET_KEYS = ("fp32_tflops", "tensor_tflops", "bandwidth_tbs", "memory_gb", "source")
GPU_DATASHEETS = {name: dict(zip(SHEET_KEYS, values)) for name, values in {
    "V100 SXM2": (15.7, 125.0, 0.9, 32, "NVIDIA V100 datasheet, https://www.nvidia.com/en-us/data-center/v100/"),
    "H100 SXM": (67.0, 989.0, 3.35, 80, "NVIDIA H100 datasheet, https://www.nvidia.com/en-us/data-center/h100/"),
    "H200 SXM": (67.0, 989.0, 4.8, 141, "NVIDIA H200 datasheet, https://www.nvidia.com/en-us/data-center/h200/"),
}.items()}


def _check_dtype(dtype):
    return check_choice(dtype, "dtype", tuple(BYTES_PER_VALUE))


def check_layer_rows(rows, name="rows", keys=("name", "intensity"), allow_empty=False):
    """``rows`` as a list of ``layer_intensities`` dicts holding ``keys``; the message names a missing key."""
    rows = check_records(rows, name, keys, "a layer_intensities(model) row", allow_empty=allow_empty)
    for index, row in enumerate(rows):
        for key in ("intensity", "flops", "bytes", "measured_gflops"):
            if key in row and (key in keys or row[key] is not None):
                check_positive_number(row[key], f"{name}[{index}][{key!r}]")
        if "batch_size" in keys:
            check_positive_int(row["batch_size"], f"{name}[{index}]['batch_size']")
    return rows


# --- Memory bandwidth ---
def memory_bandwidth(sizes_mb=(1, 16, 64, 256), threads=None, repeats=5):
    """GB/s of ``np.copyto`` per array size (MB per array; read + write counted: 2 x size moved)."""
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from .bench import best_time

    sizes_mb = [check_positive_number(size, "sizes_mb") for size in check_sequence(sizes_mb, "sizes_mb")]
    if max(sizes_mb) > 16384:
        raise ValueError(f"sizes_mb must be at most 16384 MB per array, got {max(sizes_mb):g}")
    threads = backends.usable_cpus() if threads is None else check_positive_int(threads, "threads")
    repeats = check_positive_int(repeats, "repeats")
    rows = []
    with ThreadPoolExecutor(threads) as pool:  # NumPy releases the GIL while copying: threads copy in parallel
        for size in sizes_mb:
            source = np.ones(max(threads, int(size * 2 ** 20) // 4), dtype=np.float32)
            target = np.empty_like(source)
            parts = [slice(i * source.size // threads, (i + 1) * source.size // threads) for i in range(threads)]

            def copy():
                list(pool.map(lambda part: np.copyto(target[part], source[part]), parts))

            calls = max(1, int(2 ** 28 // source.nbytes))  # small copies: repeat so a timing is long enough
            seconds = best_time(lambda: [copy() for _ in range(calls)], repeats=repeats) / calls
            rows.append({"megabytes": size, "seconds": seconds, "gb_per_s": 2 * source.nbytes / seconds / 1e9})
            del source, target
    return rows


# --- Arithmetic intensity of layers ---
def leaf_layers(model, prefix=""):
    """(name, layer) for every layer of ``model``, nested models opened ("block/conv")."""
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from leaf_layers(layer, prefix + layer.name + "/")
        else:
            yield prefix + layer.name, layer


def layer_intensities(model, batch_size=1, dtype="float32", layer_types=("Conv2D", "Dense")):
    """One row per conv/dense layer: macs, flops, bytes moved, intensity (FLOP/byte) for a batch."""
    from . import cost

    validation.check_keras_model(model)
    batch_size = check_positive_int(batch_size, "batch_size")
    size = BYTES_PER_VALUE[_check_dtype(dtype)]
    layer_types = [check_string(kind, "layer_types") for kind in check_sequence(layer_types, "layer_types")]
    layers, rows = dict(leaf_layers(model)), []
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


def measure_layers(model, rows, repeats=5):
    """Time each row's layer alone (TensorFlow, random input, its batch size); adds measured_gflops."""
    validation.check_keras_model(model)
    rows = check_layer_rows(rows, keys=("name", "batch_size", "flops"))
    repeats = check_positive_int(repeats, "repeats")
    layers = dict(leaf_layers(model))
    for row in rows:
        if row["name"] not in layers:
            raise ValueError(f"rows must come from layer_intensities(model): no layer {row['name']!r} in it")
    import keras
    import tensorflow as tf

    from .bench import best_time

    measured = []
    for row in rows:
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


# --- The roofline model ---
def attainable_gflops(intensity, peak_gflops, bandwidth_gbs):
    """The roofline: min(peak, intensity x bandwidth), for a number or an array of intensities."""
    import numpy as np

    peak_gflops = check_positive_number(peak_gflops, "peak_gflops")
    bandwidth_gbs = check_positive_number(bandwidth_gbs, "bandwidth_gbs")
    values = check_number_array("intensity", intensity)
    result = np.minimum(peak_gflops, values * bandwidth_gbs)
    return float(result) if result.ndim == 0 else result


def ridge_point(peak_gflops, bandwidth_gbs):
    """FLOP/byte where the roofline bends: below it memory bounds the speed, above it compute does."""
    return check_positive_number(peak_gflops, "peak_gflops") / check_positive_number(bandwidth_gbs, "bandwidth_gbs")


def bound(intensity, peak_gflops, bandwidth_gbs):
    """Which roof limits a layer: 'memory' below the ridge point, 'compute' at or above it."""
    intensity = check_positive_number(intensity, "intensity")
    return "memory" if intensity < ridge_point(peak_gflops, bandwidth_gbs) else "compute"


def gpu_rooflines(names=None):
    """{label: (peak GFLOP/s, GB/s)}: FP32 and tensor-core FP16/BF16 roofs from ``GPU_DATASHEETS``."""
    names = list(GPU_DATASHEETS) if names is None else check_sequence(names, "names")
    if any(not isinstance(name, str) or name not in GPU_DATASHEETS for name in names):
        raise ValueError(f"names must be a list drawn from {', '.join(GPU_DATASHEETS)}, got {names!r}")
    return {f"{name} {kind}": (GPU_DATASHEETS[name][key] * 1e3, GPU_DATASHEETS[name]["bandwidth_tbs"] * 1e3)
            for name in names for kind, key in (("FP32", "fp32_tflops"), ("tensor FP16/BF16", "tensor_tflops"))}


def _check_plot_arguments(layers, others):
    if not isinstance(layers, dict):
        raise TypeError(f"layers must be a dict {{group: rows}}, got {type(layers).__name__}")
    if not isinstance(others, dict):
        raise TypeError(f"others must be a dict {{label: (peak, bandwidth)}}, got {type(others).__name__}")
    for group, rows in layers.items():
        check_layer_rows(rows, f"layers[{group!r}]", allow_empty=True)
    for name, roof in others.items():
        if isinstance(roof, (str, dict)) or not hasattr(roof, "__len__") or len(roof) != 2:
            raise TypeError(f"others[{name!r}] must be a (peak GFLOP/s, GB/s) pair, got {roof!r}")
        check_positive_number(roof[0], f"others[{name!r}] peak"), check_positive_number(roof[1], f"others[{name!r}] bandwidth")


def plot_roofline(peak_gflops, bandwidth_gbs, layers=None, others=None, label="this CPU"):
    """Roofline with layers at their intensity ({group: rows}); ``others`` are dashed roofs."""
    ridge = ridge_point(peak_gflops, bandwidth_gbs)
    layers, others = ({} if layers is None else layers), ({} if others is None else others)
    _check_plot_arguments(layers, others)
    label = check_string(label, "label")
    import matplotlib.pyplot as plt
    import numpy as np

    figure, ax = plt.subplots(figsize=(9, 5.5))
    x = np.logspace(-2, 4, 200)
    ax.plot(x, attainable_gflops(x, peak_gflops, bandwidth_gbs), "k-", linewidth=2,
            label=f"{label}: {peak_gflops:.0f} GFLOP/s, {bandwidth_gbs:.0f} GB/s")
    ax.axvline(ridge, color="grey", linestyle=":", linewidth=1)
    ax.annotate(f"ridge {ridge:.1f} FLOP/B", (ridge, peak_gflops), textcoords="offset points", xytext=(4, -12),
                fontsize=8)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (name, (peak, bandwidth)) in enumerate(others.items()):
        ax.plot(x, attainable_gflops(x, peak, bandwidth), linestyle="--" if "FP32" in name else ":",
                color=colors[(index // 2) % len(colors)], linewidth=1.2, label=name)
    for marker, (group, rows) in zip("osD^v", layers.items()):
        if not rows:
            continue
        intensity = np.array([row["intensity"] for row in rows])
        bound_at = attainable_gflops(intensity, peak_gflops, bandwidth_gbs)
        measured = [row.get("measured_gflops") for row in rows]
        measured = None if None in measured else measured
        ax.scatter(intensity, bound_at, marker=marker, facecolors="none", edgecolors="k", zorder=3,
                   label=f"{group}: bound at its intensity")
        if measured:
            ax.scatter(intensity, measured, marker=marker, zorder=3, label=f"{group}: measured alone")
        for row, y in zip(rows, measured or bound_at):
            ax.annotate(str(row["name"]).split("/")[-1], (row["intensity"], y), fontsize=7,
                        textcoords="offset points", xytext=(3, 3))
    ax.set(xscale="log", yscale="log", xlabel="arithmetic intensity (FLOP per byte moved)",
           ylabel="GFLOP/s", title="Roofline: attainable = min(peak, intensity x bandwidth)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower right")
    figure.tight_layout()
    return figure


def roofline_table(rows, peak_gflops, bandwidth_gbs):
    """A DataFrame of ``layer_intensities`` (or ``measure_layers``) rows with each layer's bound and roof."""
    from . import tables

    rows = check_layer_rows(rows, keys=("name", "type", "flops", "bytes", "intensity"), allow_empty=True)
    ridge_point(peak_gflops, bandwidth_gbs)
    shown = [dict(row, mflops=row["flops"] / 1e6, bound=bound(row["intensity"], peak_gflops, bandwidth_gbs),
                  roof_gflops=attainable_gflops(row["intensity"], peak_gflops, bandwidth_gbs)) for row in rows]
    columns = ["name", "type", "mflops", "bytes", "intensity", "bound", "roof_gflops"]
    if shown and all("measured_gflops" in row for row in shown):
        columns.append("measured_gflops")
    return tables.table(shown, columns=columns, rename={
        "mflops": "MFLOPs", "intensity": "FLOP/byte", "roof_gflops": "roofline GFLOP/s",
        "measured_gflops": "measured GFLOP/s"})


# --- The same roofline numbers on a TensorFlow device (the NVIDIA section uses "/GPU:0") ---
def _tensorflow_device(device):
    """The TensorFlow name of ``device`` ("/GPU:0", "GPU:0" or "/device:GPU:0"); it must exist here."""
    import tensorflow as tf

    check_string(device, "device")
    match = re.fullmatch(r"/?(?:device:)?(CPU|GPU):(\d+)", device.strip(), flags=re.IGNORECASE)
    seen = [found.name for found in tf.config.list_logical_devices()]
    if match is None:
        raise ValueError(f"device must look like '/CPU:0' or '/GPU:0', got {device!r}; "
                         f"TensorFlow sees: {', '.join(seen) or 'no devices'}")
    name = f"/device:{match.group(1).upper()}:{int(match.group(2))}"
    if name not in seen:
        raise ValueError(f"device {device!r} does not exist on this machine; TensorFlow sees: "
                         f"{', '.join(seen) or 'no devices'}")
    return name


def tensorflow_roofline(device="/CPU:0", n=4096, megabytes=256, dtype="float32", repeats=5):
    """(GEMM GFLOP/s, copy GB/s) on a TensorFlow device, eager so no graph rewrite skips the work."""
    n = check_positive_int(n, "n")
    megabytes = check_positive_number(megabytes, "megabytes")
    dtype = _check_dtype(dtype)
    repeats = check_positive_int(repeats, "repeats")
    if n > 32768:
        raise ValueError(f"n must be at most 32768 (an n x n matrix), got {n}")
    if megabytes > 16384:
        raise ValueError(f"megabytes must be at most 16384, got {megabytes:g}")
    device = _tensorflow_device(device)
    import tensorflow as tf

    from .bench import best_time

    values = max(1, int(megabytes * 2 ** 20) // 4)
    with tf.device(device):
        a = tf.cast(tf.random.uniform((n, n)), dtype)
        x = tf.zeros((values,), dtype=tf.float32)
        # reading one element back waits for the device to finish the whole operation
        gemm_seconds = best_time(lambda: tf.linalg.matmul(a, a)[0, 0].numpy(), repeats=repeats)
        copy_seconds = best_time(lambda: tf.add(x, 1.0)[0].numpy(), repeats=repeats)  # read + write each value
    return 2 * n ** 3 / gemm_seconds / 1e9, 2 * values * 4 / copy_seconds / 1e9
