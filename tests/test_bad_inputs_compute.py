"""Bad inputs to the compute modules' public functions (roofline, cost, training_speed, bench,
distributed_plots): each gives a clear ValueError/TypeError (or FileNotFoundError) naming the argument,
before any timing, subprocess or plotting. No benchmark runs here: the checks fire first."""
import math

import matplotlib

matplotlib.use("Agg")  # noqa: E402  (no display in CI)

import pytest

from hpml_helpers import allreduce_model, bench, cost, distributed_plots, roofline, training_speed

NAN, INF = math.nan, math.inf


@pytest.fixture(scope="module")
def keras_model():
    """One 3x3 convolution and a classifier on 8x8 one-channel images: small enough to count instantly."""
    import keras

    return keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(2, 3, name="conv"),
                             keras.layers.Flatten(), keras.layers.Dense(3, name="dense")], name="tiny")


def unbuilt_model():
    import keras

    return keras.Sequential([keras.layers.Conv2D(2, 3), keras.layers.Flatten(), keras.layers.Dense(3)])


def missing_gpu():
    """A GPU name TensorFlow does not have here: "/GPU:0" on a machine without one."""
    import tensorflow as tf

    return f"/GPU:{len(tf.config.list_logical_devices('GPU'))}"


# ---------------------------------------------------------------------------------------------- roofline
ROOFLINE_CASES = [
    (lambda m: roofline.layer_intensities(None), TypeError, r"model must be a Keras Model"),
    (lambda m: roofline.layer_intensities(m, batch_size=True), TypeError, r"batch_size must be an integer"),
    (lambda m: roofline.layer_intensities(m, batch_size="8"), TypeError, r"batch_size must be an integer"),
    (lambda m: roofline.layer_intensities(m, batch_size=0), ValueError, r"batch_size must be an integer >= 1"),
    (lambda m: roofline.layer_intensities(m, dtype="int8"), ValueError, r"dtype must be one of 'float32'"),
    (lambda m: roofline.layer_intensities(m, layer_types=[]), ValueError, r"layer_types must not be empty"),
    (lambda m: roofline.measure_layers(m, [{"name": "conv", "flops": 10}]), ValueError,
     r"rows\[0\] has no 'batch_size' key"),
    (lambda m: roofline.measure_layers(m, []), ValueError, r"rows must not be empty"),
    (lambda m: roofline.measure_layers(m, [{"name": "conv", "batch_size": 1, "flops": NAN}]), ValueError,
     r"rows\[0\]\['flops'\] must be a finite number"),
    (lambda m: roofline.measure_layers(m, roofline.layer_intensities(m), repeats=0), ValueError, r"repeats"),
    (lambda m: roofline.measure_layers(None, []), TypeError, r"model must be a Keras Model"),
    (lambda m: roofline.attainable_gflops(NAN, 200.0, 20.0), ValueError, r"intensity must be finite"),
    (lambda m: roofline.attainable_gflops([], 200.0, 20.0), ValueError, r"intensity must be finite"),
    (lambda m: roofline.attainable_gflops("4", 200.0, 20.0), TypeError, r"intensity must be a number"),
    (lambda m: roofline.attainable_gflops(1.0, INF, 20.0), ValueError, r"peak_gflops must be a finite number"),
    (lambda m: roofline.attainable_gflops(1.0, "200", 20.0), TypeError, r"peak_gflops must be a number"),
    (lambda m: roofline.ridge_point(200.0, -1.0), ValueError, r"bandwidth_gbs must be > 0"),
    (lambda m: roofline.bound("1", 200.0, 20.0), TypeError, r"intensity must be a number"),
    (lambda m: roofline.gpu_rooflines(["A100"]), ValueError, r"names must be a list drawn from V100"),
    (lambda m: roofline.gpu_rooflines([]), ValueError, r"names must not be empty"),
    (lambda m: roofline.gpu_rooflines("H100 SXM"), TypeError, r"names must be a list"),
    (lambda m: roofline.plot_roofline(200.0, 20.0, layers={"net": [{"name": "a"}]}), ValueError,
     r"layers\['net'\]\[0\] has no 'intensity' key"),
    (lambda m: roofline.plot_roofline(200.0, 20.0, layers={"net": [{"name": "a", "intensity": -1}]}),
     ValueError, r"layers\['net'\]\[0\]\['intensity'\] must be > 0"),
    (lambda m: roofline.plot_roofline(200.0, 20.0, others={"x": (1.0,)}), TypeError, r"others\['x'\] must be"),
    (lambda m: roofline.plot_roofline(200.0, 20.0, others=[(1.0, 2.0)]), TypeError, r"others must be a dict"),
    (lambda m: roofline.plot_roofline(200.0, 20.0, label=""), ValueError, r"label must not be empty"),
    (lambda m: roofline.plot_roofline(NAN, 20.0), ValueError, r"peak_gflops must be a finite number"),
    (lambda m: roofline.roofline_table([{"name": "a", "type": "Dense", "bytes": 4, "intensity": 1.0}], 200.0,
                                       20.0), ValueError, r"rows\[0\] has no 'flops' key"),
    (lambda m: roofline.roofline_table([3], 200.0, 20.0), TypeError, r"rows\[0\] must be a layer_intensities\(model\) row \(a dict"),
    (lambda m: roofline.tensorflow_roofline(missing_gpu()), ValueError,
     r"device '/GPU:\d+' does not exist on this machine; TensorFlow sees: .*CPU:0"),
    (lambda m: roofline.tensorflow_roofline("TPU:0"), ValueError, r"device must look like '/CPU:0'"),
    (lambda m: roofline.tensorflow_roofline(0), TypeError, r"device must be a string"),
    (lambda m: roofline.tensorflow_roofline(n=0), ValueError, r"n must be an integer >= 1"),
    (lambda m: roofline.tensorflow_roofline(n=4096.0), TypeError, r"n must be an integer"),
    (lambda m: roofline.tensorflow_roofline(megabytes=NAN), ValueError, r"megabytes must be a finite number"),
    (lambda m: roofline.tensorflow_roofline(dtype="float64"), ValueError, r"dtype must be one of"),
    (lambda m: roofline.tensorflow_roofline(repeats=True), TypeError, r"repeats must be an integer"),
    (lambda m: roofline.memory_bandwidth(sizes_mb=[1, -1]), ValueError, r"sizes_mb must be > 0"),
    (lambda m: roofline.memory_bandwidth(sizes_mb=["1"]), TypeError, r"sizes_mb must be a number"),
    (lambda m: roofline.memory_bandwidth(repeats=True), TypeError, r"repeats must be an integer"),
]


@pytest.mark.parametrize("call, error, message", ROOFLINE_CASES)
def test_roofline_refuses(keras_model, call, error, message):
    with pytest.raises(error, match=message):
        call(keras_model)


# ---------------------------------------------------------------------------------------------- cost
COST_CASES = [
    (lambda m: cost.count(m, input_shape=(8, 8)), ValueError,
     r"input_shape \(8, 8\) has 2 entries but model 'tiny' expects 3 per image, of shape \(8, 8, 1\)"),
    (lambda m: cost.count(m, input_shape=(8, 8, 3)), ValueError,
     r"input_shape \(8, 8, 3\) has 3 channels .* model 'tiny' takes 1 channels"),
    (lambda m: cost.count(m, input_shape=[(8, 8, 1), (8, 8, 1)]), ValueError, r"input_shape .* gives 2 input"),
    (lambda m: cost.count(None), TypeError, r"model must be a Keras Model .* got None"),
    (lambda m: cost.count(m.layers[0]), TypeError, r"model must be a Keras Model .*wrap a single layer"),
    (lambda m: cost.count(m, input_shape="8,8,1"), TypeError, r"input_shape must be a tuple"),
    (lambda m: cost.count(m, input_shape=(8, 8.0, 1)), ValueError, r"input_shape must be the shape of one image"),
    (lambda m: cost.count(m, input_shape=(8, True, 1)), ValueError, r"input_shape must be the shape of one image"),
    (lambda m: cost.count(m, input_shape=()), ValueError, r"input_shape must be the shape of one image"),
    (lambda m: cost.count(m, input_shape=(8, -8, 1)), ValueError, r"input_shape must be the shape of one image"),
    (lambda m: cost.count(unbuilt_model(), input_shape=(28, 28)), ValueError,
     r"input_shape \(28, 28\) does not fit model"),
    (lambda m: cost.count(unbuilt_model()), ValueError, r"not built: pass input_shape"),
    (lambda m: cost.compare({"a": None}), TypeError, r"models\['a'\] must be a Keras Model or a Cost"),
    (lambda m: cost.compare({}), TypeError, r"models must be a non-empty dict"),
    (lambda m: cost.compare({"a": m}, input_shape=(8, 8, 3)), ValueError, r"input_shape .* 3 channels"),
    (lambda m: cost.table([1, 2]), TypeError, r"rows must be a list of dicts"),
    (lambda m: cost.table("rows"), TypeError, r"rows must be a list or tuple"),
    (lambda m: cost.table([], columns=[1]), TypeError, r"columns must be a string"),
    (lambda m: cost.plot_model_costs([{"model": "m", "flops": 1}]), ValueError, r"rows\[0\] has no 'params' key"),
    (lambda m: cost.plot_model_costs([{"model": "m", "flops": NAN, "params": 1}]), ValueError,
     r"rows\[0\]\['flops'\] must be a finite number"),
    (lambda m: cost.plot_model_costs([{"model": "m", "flops": 1, "params": "5"}]), TypeError,
     r"rows\[0\]\['params'\] must be a number"),
    (lambda m: cost.plot_model_costs([]), ValueError, r"rows must not be empty"),
    (lambda m: cost.count(m).table(as_text="no"), TypeError, r"as_text must be True or False"),
    (lambda m: cost.count(m).table(nonzero_only=1), TypeError, r"nonzero_only must be True or False"),
    (lambda m: cost.count(m).plot(figsize=(0, 3)), ValueError, r"figsize must be > 0"),
    (lambda m: cost.count(m).plot(figsize=5), TypeError, r"figsize must be a \(width, height\) pair"),
    (lambda m: cost.count_architecture(None), TypeError, r"build must be a function"),
]


@pytest.mark.parametrize("call, error, message", COST_CASES)
def test_cost_refuses(keras_model, call, error, message):
    with pytest.raises(error, match=message):
        call(keras_model)


# ---------------------------------------------------------------------------------------------- training_speed
def speed_row(**change):
    row = {"workload": "w", "setting": "s", "precision": "float32", "jit_compile": False, "onednn": True,
           "threads": 2, "images_per_second": 10.0}
    return {key: value for key, value in dict(row, **change).items() if value is not None}


TRAINING_SPEED_CASES = [
    (lambda: training_speed.run_worker("no/such/script.py"), ValueError, r"script must be an existing"),
    (lambda: training_speed.run_worker(None), TypeError, r"script must be a string"),
    (lambda: training_speed.run_worker(training_speed.WORKER, timeout=0), ValueError, r"timeout must be > 0"),
    (lambda: training_speed.run_worker(training_speed.WORKER, timeout=NAN), ValueError, r"timeout must be a finite"),
    (lambda: training_speed.run_worker(training_speed.WORKER, args=[1]), TypeError, r"args must be a string"),
    (lambda: training_speed.run_worker(training_speed.WORKER, args="--seconds"), TypeError, r"args must be a list"),
    (lambda: training_speed.run_worker(training_speed.WORKER, env={"A": True}), TypeError, r"env must map"),
    (lambda: training_speed.run_worker(training_speed.WORKER, name=""), ValueError, r"name must not be empty"),
    (lambda: training_speed.keras_training_speed(workloads=[]), ValueError, r"workloads must not be empty"),
    (lambda: training_speed.keras_training_speed(workloads=("resnet",)), ValueError, r"workloads must be a list"),
    (lambda: training_speed.keras_training_speed(variants=(("float32",),)), ValueError, r"variants must be"),
    (lambda: training_speed.keras_training_speed(variants=[]), ValueError, r"variants must not be empty"),
    (lambda: training_speed.keras_training_speed(onednn=1), TypeError, r"onednn must be True or False"),
    (lambda: training_speed.keras_training_speed(seconds=INF), ValueError, r"seconds must be a finite number"),
    (lambda: training_speed.keras_training_speed(timeout="300"), TypeError, r"timeout must be a number"),
    (lambda: training_speed.keras_training_speed(batch_size=True), TypeError, r"batch_size must be an integer"),
    (lambda: training_speed.keras_training_speed(threads=2.0), TypeError, r"threads must be an integer"),
    (lambda: training_speed.keras_training_speed(image_size=16), ValueError, r"image_size must be at least 32"),
    (lambda: training_speed.keras_training_speed(image_size=224.0), TypeError, r"image_size must be an integer"),
    (lambda: training_speed.framework_speed(frameworks=("torch",)), ValueError, r"frameworks must be one of"),
    (lambda: training_speed.framework_speed(frameworks=[]), ValueError, r"frameworks must not be empty"),
    (lambda: training_speed.framework_speed(frameworks=["keras", "keras"]), ValueError,
     r"frameworks must not repeat"),
    (lambda: training_speed.framework_speed(num_images=0), ValueError, r"num_images must be an integer >= 1"),
    (lambda: training_speed.framework_speed(num_epochs=1), ValueError, r"num_epochs must be at least 2"),
    (lambda: training_speed.framework_speed(num_epochs=True), TypeError, r"num_epochs must be an integer"),
    (lambda: training_speed.framework_speed(batch_size=4096), ValueError, r"batch_size \(4096\) must be at most"),
    (lambda: training_speed.framework_speed(seed=-1), ValueError, r"seed must be an integer >= 0"),
    (lambda: training_speed.framework_speed(seed=None), TypeError, r"seed must be an integer"),
    (lambda: training_speed.plot_speeds([speed_row(images_per_second=None)]), ValueError,
     r"rows\[0\] has no 'images_per_second' key"),
    (lambda: training_speed.plot_speeds([]), ValueError, r"rows must not be empty"),
    (lambda: training_speed.plot_speeds(["row"]), TypeError, r"rows\[0\] must be a keras_training_speed row \(a dict"),
    (lambda: training_speed.speed_table([speed_row(images_per_second="fast")]), TypeError,
     r"rows\[0\]\['images_per_second'\] must be a number"),
    (lambda: training_speed.speed_table([speed_row(images_per_second=NAN)]), ValueError,
     r"rows\[0\]\['images_per_second'\] must be a finite"),
    (lambda: training_speed.speed_ratios([speed_row(threads=None)]), ValueError, r"rows\[0\] has no 'threads' key"),
    (lambda: training_speed.speed_ratios([speed_row(threads=0)]), ValueError, r"rows\[0\]\['threads'\]"),
    (lambda: training_speed.speed_ratios([speed_row(precision="float16")]), ValueError,
     r"rows\[0\]\['precision'\] must be one of"),
    (lambda: training_speed.speed_ratios([speed_row(onednn="on")]), TypeError, r"rows\[0\]\['onednn'\]"),
]


@pytest.mark.parametrize("call, error, message", TRAINING_SPEED_CASES)
def test_training_speed_refuses(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---------------------------------------------------------------------------------------------- bench
GEMM_ROWS = [{"size": 4, "seconds": 1e-6, "gflops": 0.1}]

BENCH_CASES = [
    (lambda: bench.best_time(None), TypeError, r"function must be callable"),
    (lambda: bench.best_time(lambda: None, repeats=True), TypeError, r"repeats must be an integer"),
    (lambda: bench.best_time(lambda: None, repeats=2.0), TypeError, r"repeats must be an integer"),
    (lambda: bench.best_time(lambda: None, warmup=-1), ValueError, r"warmup must be an integer >= 0"),
    (lambda: bench.gemm_gflops(sizes=[]), ValueError, r"sizes must not be empty"),
    (lambda: bench.gemm_gflops(sizes=(True,)), TypeError, r"sizes must be an integer"),
    (lambda: bench.gemm_gflops(sizes=(64.0,)), TypeError, r"sizes must be an integer"),
    (lambda: bench.gemm_gflops(sizes="64"), TypeError, r"sizes must be a list or tuple"),
    (lambda: bench.gemm_gflops(sizes=(-4,)), ValueError, r"sizes must be an integer >= 1"),
    (lambda: bench.gemm_gflops(sizes=(10 ** 6,)), ValueError, r"sizes must be at most"),
    (lambda: bench.gemm_gflops(sizes=(4,), dtype="float16"), TypeError, r"dtype must be float32 or float64"),
    (lambda: bench.gemm_gflops(sizes=(4,), dtype=None), TypeError, r"dtype must be float32 or float64"),
    (lambda: bench.gemm_gflops(sizes=(4,), repeats=0), ValueError, r"repeats must be an integer >= 1"),
    (lambda: bench.gemm_gflops(sizes=(4,), seed=1.5), TypeError, r"seed must be an integer"),
    (lambda: bench.peak_gflops([]), ValueError, r"results must not be empty"),
    (lambda: bench.peak_gflops([{"size": 4}]), ValueError, r"results\[0\] has no 'gflops' key"),
    (lambda: bench.peak_gflops([{"size": 4, "gflops": "1"}]), TypeError, r"results\[0\]\['gflops'\] must be"),
    (lambda: bench.plot_gemm([{"size": 4, "gflops": NAN}]), ValueError, r"results\[0\]\['gflops'\] must be"),
    (lambda: bench.plot_gemm(GEMM_ROWS, ax="axis"), TypeError, r"ax must be a matplotlib Axes"),
    (lambda: bench.plot_gemm(GEMM_ROWS, label=3), TypeError, r"label must be a string"),
    (lambda: bench.conv_layer_flops(0, 8, 8, 1, 1, 3), ValueError, r"batch_size must be an integer >= 1"),
    (lambda: bench.conv_layer_flops(1, 8, 8, 1, 1, "3"), TypeError, r"kernel_size must be an integer"),
    (lambda: bench.conv_speeds(methods=("fft",)), ValueError, r"methods must be one of 'naive'"),
    (lambda: bench.conv_speeds(methods=[]), ValueError, r"methods must not be empty"),
    (lambda: bench.conv_speeds(methods="im2col"), TypeError, r"methods must be a list"),
    (lambda: bench.conv_speeds(kernel_size=4), ValueError, r"kernel_size must be odd"),
    (lambda: bench.conv_speeds(image_size="56"), TypeError, r"image_size must be an integer"),
    (lambda: bench.conv_speeds(in_channels=0), ValueError, r"in_channels must be an integer >= 1"),
    (lambda: bench.conv_speeds(repeats=0), ValueError, r"repeats must be an integer >= 1"),
    (lambda: bench.conv_speeds(seed=True), TypeError, r"seed must be an integer"),
]


@pytest.mark.parametrize("call, error, message", BENCH_CASES)
def test_bench_refuses(call, error, message):
    with pytest.raises(error, match=message):
        call()


# ---------------------------------------------------------------------------------------------- distributed_plots
SIZES = [64, 4096, 262144]
FIT = allreduce_model.AllreduceFit(latency=5e-4, bandwidth=1e9, r_squared=1.0, num_workers=(2,))
EVENTS = [{"name": "process_name", "ph": "M", "pid": 1, "args": {"name": "horovod_allreduce.fusion.0"}},
          {"ph": "B", "name": "ALLREDUCE", "ts": 10, "pid": 1}, {"ph": "E", "ts": 20, "pid": 1}]
PS_RESULT = {"rank": 0, "losses": [2.0, 1.5], "seconds": [0.1, 0.2]}

DISTRIBUTED_CASES = [
    (lambda: distributed_plots.plot_allreduce(SIZES, [1e-3, 2e-3], FIT), ValueError,
     r"sizes and seconds must be 1-D, the same length"),
    (lambda: distributed_plots.plot_allreduce([64, NAN, 1e5], [1e-3] * 3, FIT), ValueError,
     r"sizes must hold finite numbers"),
    (lambda: distributed_plots.plot_allreduce([], [], FIT), ValueError, r"sizes must not be empty"),
    (lambda: distributed_plots.plot_allreduce(["a", "b"], [1e-3, 2e-3], FIT), TypeError, r"sizes must hold numbers"),
    (lambda: distributed_plots.plot_allreduce(SIZES, [1e-3, 0.0, 2e-3], FIT), ValueError,
     r"sizes and seconds must be > 0"),
    (lambda: distributed_plots.plot_allreduce(SIZES, None, FIT), TypeError, r"seconds must be an array"),
    (lambda: distributed_plots.plot_allreduce(SIZES, [1e-3] * 3, None), TypeError, r"fit must be the AllreduceFit"),
    (lambda: distributed_plots.plot_allreduce(SIZES, [1e-3] * 3, FIT, num_workers=1), ValueError,
     r"num_workers must be an integer >= 2"),
    (lambda: distributed_plots.plot_allreduce(SIZES, [1e-3] * 3, FIT, num_workers=2.0), TypeError,
     r"num_workers must be an integer"),
    (lambda: distributed_plots.plot_allreduce(SIZES, [1e-3] * 3, FIT, ax="axes"), TypeError,
     r"ax must be a matplotlib Axes"),
    (lambda: distributed_plots.read_timeline("no/such/timeline.json"), FileNotFoundError, r"path 'no/such"),
    (lambda: distributed_plots.read_timeline(None), TypeError, r"path must be a file path"),
    (lambda: distributed_plots.timeline_intervals([]), ValueError, r"events must not be empty"),
    (lambda: distributed_plots.timeline_intervals([1]), TypeError, r"events\[0\] must be a dict"),
    (lambda: distributed_plots.timeline_intervals([{"ph": "B", "pid": 1, "name": "x"}]), ValueError,
     r"events\[0\] has no 'ts' key"),
    (lambda: distributed_plots.timeline_intervals(EVENTS, prefix=3), TypeError, r"prefix must be a string"),
    (lambda: distributed_plots.timeline_intervals(EVENTS, last_round="yes"), TypeError,
     r"last_round must be True or False"),
    (lambda: distributed_plots.plot_timeline({"run": 3}), TypeError, r"timelines\['run'\] must be a timeline"),
    (lambda: distributed_plots.plot_timeline({"run": EVENTS}, activities=[]), ValueError,
     r"activities must not be empty"),
    (lambda: distributed_plots.moving_average([], 3), ValueError, r"values must not be empty"),
    (lambda: distributed_plots.moving_average([1.0, NAN]), ValueError, r"values must hold finite numbers"),
    (lambda: distributed_plots.moving_average([1.0, 2.0], window=True), TypeError, r"window must be an integer"),
    (lambda: distributed_plots.moving_average([1.0, 2.0], window=2.5), TypeError, r"window must be an integer"),
    (lambda: distributed_plots.step_wall_times({}), ValueError, r"result has no 'seconds' key"),
    (lambda: distributed_plots.step_wall_times({"seconds": [1.0], "total_seconds": INF}), ValueError,
     r"result\['total_seconds'\] must be a finite"),
    (lambda: distributed_plots.plot_sync_async({"dist_sync": [{"rank": 0, "losses": [1.0]}]}), ValueError,
     r"results\['dist_sync'\]\[0\] has no 'seconds' key"),
    (lambda: distributed_plots.plot_sync_async({"dist_sync": [dict(PS_RESULT, seconds=[0.1])]}), ValueError,
     r"results\['dist_sync'\]\[0\] has 2 losses but 1 seconds"),
    (lambda: distributed_plots.plot_sync_async({"dist_sync": []}), ValueError,
     r"results\['dist_sync'\] must not be empty"),
    (lambda: distributed_plots.plot_sync_async({"dist_sync": [PS_RESULT]}, window=0), ValueError,
     r"window must be an integer >= 1"),
    (lambda: distributed_plots.delayed_gradient_descent(NAN), ValueError, r"learning_rate must be a finite"),
    (lambda: distributed_plots.delayed_gradient_descent("0.1"), TypeError, r"learning_rate must be a number"),
    (lambda: distributed_plots.delayed_gradient_descent(0.1, delay=True), TypeError, r"delay must be an integer"),
    (lambda: distributed_plots.delayed_gradient_descent(0.1, steps=0), ValueError, r"steps must be an integer >= 1"),
    (lambda: distributed_plots.delayed_gradient_descent(0.1, start=INF), ValueError, r"start must be a finite"),
    (lambda: distributed_plots.delayed_gradient_descent(0.1, curvature=-1.0), ValueError, r"curvature must be > 0"),
    (lambda: distributed_plots.stable_learning_rate(delay=True), TypeError, r"delay must be an integer"),
    (lambda: distributed_plots.stable_learning_rate(delay=1.5), TypeError, r"delay must be an integer"),
    (lambda: distributed_plots.ring_contributions(None), TypeError, r"simulation must be what"),
    (lambda: distributed_plots.plot_ring_allreduce("simulation"), TypeError, r"simulation must be what"),
]


@pytest.mark.parametrize("call, error, message", DISTRIBUTED_CASES)
def test_distributed_plots_refuses(call, error, message):
    with pytest.raises(error, match=message):
        call()
