"""Exercise checks of notebooks 06 to 10: roofline, allreduce cost, stale gradients, scaling, learning-rate
scaling and warmup, transfer learning. Each prints a verdict and returns True or False, never raises
(see ``exercise_verdicts``); the notebooks call them as ``exercises.check_*``.
Used by notebooks 06-10, through ``exercises``.
"""
import math

from .exercise_verdicts import WrongAnswer, call, checked, function, number, positive, same_count, verdict, whole

# The layer of exercise 05.1: a 3x3 convolution, 64 -> 64 channels, on 56x56 maps ("same" padding).
_CONV_05 = {"flops": 2 * 56 * 56 * 64 * 64 * 9, "bytes": 4 * (3 * 3 * 64 * 64 + 64 + 2 * 56 * 56 * 64)}


def _hint(value, hints, default, rel_tol):
    """The hint of the first usual mistake ``value`` matches, else ``default``."""
    return next((text for wrong, text in hints.items() if math.isclose(value, wrong, rel_tol=rel_tol)), default)


# --- notebook 06 -------------------------------------------------------------------------------
@checked
def check_arithmetic_intensity(answer):
    """Exercise 05.1: FLOP per byte of the 3x3, 64 -> 64 convolution on 56x56 maps (batch 1, float32)."""
    value, want = number(answer, "answer"), _CONV_05["flops"] / _CONV_05["bytes"]
    hints = {want / 2: "that is MACs per byte: a multiply-add counts as 2 FLOPs.",
             want * 4: "divide by bytes, not by values: a float32 value is 4 bytes.",
             _CONV_05["flops"] / (4 * 3 * 3 * 64 * 64): "count the activations too: the input and output maps "
                                                        "(56 x 56 x 64 values each) are read and written."}
    hint = _hint(value, hints, "FLOPs = 2 x 56 x 56 x 64 x 64 x 9; bytes = 4 x (weights + biases + input + "
                               "output values).", 0.02)
    return verdict(math.isclose(value, want, rel_tol=0.02),
                   f"{_CONV_05['flops']:,} FLOPs / {_CONV_05['bytes']:,} bytes = {want:.1f} FLOP/byte.", hint)


@checked
def check_training_exaflops(forward_gflops, answer_exaflops):
    """Exercise 05.2: ExaFLOPs (1e18) of 50 epochs on 1.28 M images at 3 x the forward FLOPs per image."""
    forward = positive(forward_gflops, "forward_gflops")
    value, want = number(answer_exaflops, "answer_exaflops"), forward * 1e9 * 3 * 1.28e6 * 50 / 1e18
    hint = _hint(value, {want / 3: "a training step is forward + backward: about 3 x the forward FLOPs."},
                 "multiply GFLOPs x 1e9 x 3 x 1,280,000 images x 50 epochs, then divide by 1e18.", 0.01)
    return verdict(math.isclose(value, want, rel_tol=0.01),
                   f"{forward:.1f} GFLOP x 3 x 1.28e6 x 50 = {want:.2f} ExaFLOPs.", hint)


@checked
def check_roofline_bound(intensity, peak_gflops, bandwidth_gbs, answer):
    """Exercise 05.3: "memory" or "compute": which roof limits a layer of this intensity."""
    if not isinstance(answer, str) or not answer.strip().lower().startswith(("memory", "compute")):
        raise WrongAnswer(f"answer must be the string 'memory' or 'compute', got {answer!r}.")
    intensity = positive(intensity, "intensity")
    ridge = positive(peak_gflops, "peak_gflops") / positive(bandwidth_gbs, "bandwidth_gbs")
    want = "memory" if intensity < ridge else "compute"
    return verdict(answer.strip().lower().startswith(want),
                   f"the ridge point is {ridge:.1f} FLOP/byte and the layer does {intensity:.2f}: {want}-bound.",
                   "compare the layer's intensity with the ridge point, peak / bandwidth (FLOP per byte).")


@checked
def check_attainable_gflops(intensity, peak_gflops, bandwidth_gbs, answer):
    """Exercise 05.4: the roofline bound, min(peak, intensity x bandwidth), within 1%."""
    intensity, peak = positive(intensity, "intensity"), positive(peak_gflops, "peak_gflops")
    bandwidth = positive(bandwidth_gbs, "bandwidth_gbs")
    want = min(peak, intensity * bandwidth)
    return verdict(math.isclose(number(answer, "answer"), want, rel_tol=0.01),
                   f"min({peak:.0f}, {intensity:.2f} x {bandwidth:.1f}) = {want:.1f} GFLOP/s.",
                   "the bound is the lower of the two roofs: the peak, or intensity x bandwidth.")


# --- notebook 07 -------------------------------------------------------------------------------
@checked
def check_stale_learning_rate(answer):
    """Exercise 07.1: largest stable learning rate on f(w) = w^2/2 when every gradient is 1 update old."""
    value, want = number(answer, "answer"), 1.0  # 2 sin(pi / 6) for delay 1, curvature 1
    hint = _hint(value, {2.0: "2 is the limit without staleness; with a one-update-old gradient the iteration "
                              "overshoots sooner."},
                 "try learning rates with distributed_plots.delayed_gradient_descent(lr, delay=1, steps=500) "
                 "and look whether |w| shrinks or grows.", 0.03)
    return verdict(math.isclose(value, want, rel_tol=0.03),
                   "1.0, half the limit of 2 without delay: stale gradients need smaller steps, and more "
                   "asynchronous workers mean staler gradients; that is how async SGD diverges.", hint)


def _straggler_speedup(num_workers, factor):
    """Async / sync images/s with one of N workers ``factor`` times slower, every worker's speed fixed."""
    return (num_workers - 1 + 1 / factor) / (num_workers / factor)


@checked
def check_straggler_speedup(num_workers, factor, answer):
    """Exercise 07.2: async over sync images/s when one of N workers is ``factor`` x slower (within 2%)."""
    num_workers = whole(num_workers, "num_workers", minimum=2)
    factor = positive(factor, "factor")
    value, want = number(answer, "answer"), _straggler_speedup(num_workers, factor)
    hints = {_straggler_speedup(2, factor): "that is the speed-up for 2 workers, as in the cell above: put in "
                                             f"N = {num_workers}.",
             float(factor): "that is the limit for very many workers; with this N the straggler's own slow "
                            "pushes still weigh in.",
             num_workers / factor: "that is the synchronous rate alone (in units of one worker's speed)."}
    hint = _hint(value, hints, "in units of one unslowed worker: async = (N - 1) + 1/factor (nobody waits), sync = "
                               "N / factor (every worker at the straggler's pace); divide.", 0.02)
    return verdict(math.isclose(value, want, rel_tol=0.02),
                   f"({num_workers} - 1 + 1/{factor:g}) / ({num_workers}/{factor:g}) = {want:.2f}: the more workers, "
                   f"the closer to {factor:g}x, the slowdown itself.", hint)


# --- notebook 08 -------------------------------------------------------------------------------
def _ring_seconds(num_bytes, num_workers, latency, bandwidth):
    """The ring-allreduce model T = 2(p-1) alpha + 2(p-1)/p N/B (as in allreduce_model.ring_allreduce_time)."""
    return 2 * (num_workers - 1) * latency + 2 * (num_workers - 1) / num_workers * num_bytes / bandwidth


@checked
def check_allreduce_prediction(latency, bandwidth, answer_seconds, num_bytes=100e6, num_workers=8):
    """Exercise 08.1: the ring model's time for a 100 MB gradient on 8 workers (within 2%)."""
    latency, bandwidth = positive(latency, "latency"), positive(bandwidth, "bandwidth")
    num_bytes, num_workers = positive(num_bytes, "num_bytes"), whole(num_workers, "num_workers", minimum=2)
    value, want = number(answer_seconds, "answer_seconds"), _ring_seconds(num_bytes, num_workers, latency, bandwidth)
    hints = {_ring_seconds(num_bytes, 2, latency, bandwidth): f"that is the time on 2 workers: put p = {num_workers}.",
             2 * (num_workers - 1) / num_workers * num_bytes / bandwidth: "add the latency term 2(p-1) alpha.",
             num_bytes / bandwidth + 2 * (num_workers - 1) * latency: "each worker sends 2(p-1)/p of the buffer, "
                                                                      "not the buffer once."}
    hint = _hint(value, hints, "T = 2(p-1) alpha + 2(p-1)/p N/B with N in bytes, B in bytes/s, alpha in seconds.", 0.02)
    return verdict(math.isclose(value, want, rel_tol=0.02),
                   f"2 x {num_workers - 1} x {latency * 1e6:.0f} us + 2 x {num_workers - 1}/{num_workers} x "
                   f"{num_bytes / 1e6:.0f} MB / {bandwidth / 1e9:.3g} GB/s = {want:.3g} s: bandwidth-bound.", hint)


@checked
def check_crossover_bytes(latency, bandwidth, num_workers, answer_bytes):
    """Exercise 08.2: the buffer size where latency and bandwidth terms are equal, p alpha B (within 2%)."""
    latency, bandwidth = positive(latency, "latency"), positive(bandwidth, "bandwidth")
    num_workers = whole(num_workers, "num_workers", minimum=2)
    value, want = number(answer_bytes, "answer_bytes"), num_workers * latency * bandwidth
    hint = _hint(value, {latency * bandwidth: "that is alpha x B: the bandwidth term has the factor 1/p, so solve "
                                              "2(p-1) alpha = 2(p-1)/p N/B."},
                 "set 2(p-1) alpha equal to 2(p-1)/p N/B and solve for N (bytes).", 0.02)
    return verdict(math.isclose(value, want, rel_tol=0.02),
                   f"N = p alpha B = {num_workers} x {latency * 1e6:.0f} us x {bandwidth / 1e9:.3g} GB/s = "
                   f"{want / 1e3:,.0f} KB; smaller buffers are latency-bound: fuse them.", hint)


@checked
def check_scaling_efficiency(rate_one, rate_total, num_workers, answer):
    """Exercise 08.3: weak-scaling efficiency, total images/s on N workers / (N x images/s on 1), within 1%."""
    rate_one, rate_total = positive(rate_one, "rate_one"), positive(rate_total, "rate_total")
    num_workers = whole(num_workers, "num_workers")
    value, want = number(answer, "answer"), rate_total / (num_workers * rate_one)
    hint = _hint(value, {rate_total / rate_one: "that is the speed-up; divide it by the number of workers."},
                 "efficiency = total images/s of N workers / (N x images/s of 1 worker).", 0.01)
    return verdict(math.isclose(value, want, rel_tol=0.01),
                   f"{rate_total:,.0f} / ({num_workers} x {rate_one:,.0f}) = {want:.2f}.", hint)


# --- notebook 09 -------------------------------------------------------------------------------
@checked
def check_scaled_learning_rate(base_learning_rate, base_batch_size, batch_size, answer):
    """Exercise 09.1: the linear scaling rule, base rate x batch size / base batch size (within 1%)."""
    base = positive(base_learning_rate, "base_learning_rate")
    k = whole(batch_size, "batch_size") / whole(base_batch_size, "base_batch_size")
    value, want = number(answer, "answer"), base * k
    hint = _hint(value, {base: "that is the base rate unchanged: with k times the batch the same epochs make k "
                               "times fewer updates, so each update must go k times further."},
                 "multiply the base rate by k = batch size / base batch size.", 0.01)
    return verdict(math.isclose(value, want, rel_tol=0.01),
                   f"k = {k:g}, so the rate is {base:g} x {k:g} = {want:g}.", hint)


@checked
def check_warmup_learning_rate(start_learning_rate, peak_learning_rate, warmup_steps, step, answer):
    """Exercise 09.2: the gradually warmed-up rate at ``step`` (linear from start to peak; 1% tolerance)."""
    start, peak = positive(start_learning_rate, "start_learning_rate"), positive(peak_learning_rate,
                                                                              "peak_learning_rate")
    warmup, at = whole(warmup_steps, "warmup_steps"), whole(step, "step", minimum=0)
    want = start + (peak - start) * at / warmup if at < warmup else peak
    value = number(answer, "answer")
    hint = _hint(value, {peak * min(at / warmup, 1.0): "that ramps up from 0; Goyal et al. start at the small "
                                                       "batch's rate, eta, and add (k eta - eta) / warmup_steps "
                                                       "per step."},
                 "the rate rises in a straight line: start + (peak - start) x step / warmup_steps.", 0.01)
    right = (f"{start:g} + ({peak:g} - {start:g}) x {at:g} / {warmup:g} = {want:.4g}." if at < warmup
             else f"the warmup is over after {warmup:g} steps: the rate stays at the peak, {peak:g}.")
    return verdict(math.isclose(value, want, rel_tol=0.01), right, hint)


@checked
def check_number_of_updates(num_images, batch_size, num_epochs, answer):
    """Exercise 09.3: parameter updates in ``num_epochs`` epochs when only full batches are used."""
    images, batch = whole(num_images, "num_images"), whole(batch_size, "batch_size")
    epochs = whole(num_epochs, "num_epochs")
    want, value = (images // batch) * epochs, number(answer, "answer")
    hint = ("that counts the last, incomplete batch: only full batches are used (integer division)."
            if math.isclose(value, math.ceil(images / batch) * epochs) or math.isclose(value, images / batch * epochs)
            else "one epoch is num_images // batch_size updates; multiply by the epochs.")
    return verdict(same_count(answer, want), f"{images:,} // {batch:,} = {images // batch} updates per epoch, "
                                             f"x {epochs} = {want} updates in all.", hint)


# --- notebook 10 -------------------------------------------------------------------------------
_LENET5_HEAD = ((400, 120), (120, 84))  # fc1 and fc2: (inputs, units); the output layer follows with 84 inputs
_LENET5_BACKBONE_WEIGHTS = (5 * 5 * 1 * 6 + 6) + (5 * 5 * 6 * 16 + 16)  # conv1 + conv2 with biases: 2,572


@checked
def check_trainable_parameters(num_classes, answer):
    """Exercise 10.1: weights LeNet-5 trains when conv1 and conv2 are frozen and the output has num_classes units."""
    classes = whole(num_classes, "num_classes")
    head = sum(inputs * units + units for inputs, units in _LENET5_HEAD) + 84 * classes + classes
    value = number(answer, "answer")
    hints = {head + _LENET5_BACKBONE_WEIGHTS: "that counts conv1 and conv2 too: frozen weights are not trained.",
             84 * classes + classes: "that is the output layer alone: fc1 and fc2 are part of the new head and train.",
             head - classes - 120 - 84: "add one bias per unit."}
    hint = _hint(value, hints, "add up inputs x units + units (the biases) for fc1 (400 -> 120), fc2 (120 -> 84) "
                               f"and the output layer (84 -> {classes}).", 1e-9)
    return verdict(same_count(answer, head), f"fc1 48,120 + fc2 10,164 + output {84 * classes + classes:,} = "
                                             f"{head:,}; the {_LENET5_BACKBONE_WEIGHTS:,} weights of conv1 and conv2 "
                                             "stay as task A left them.", hint)


@checked
def check_freeze_backbone(freeze_function):
    """Exercise 10.2: a function that makes a LeNet-5's conv1 and conv2 untrainable and returns the model."""
    freeze_function = function(freeze_function, "freeze_function", ["model"])
    from . import models

    model = models.lenet5(num_classes=5)
    result = call(freeze_function, "freeze_function(model)", model)
    if result is not None and result is not model:
        raise WrongAnswer("freeze_function must change the model it is given and return it, "
                          f"got {type(result).__name__}.")
    frozen = [layer.name for layer in model.layers if layer.weights and not layer.trainable]
    if frozen == ["conv1", "conv2"]:
        return verdict(True, "conv1 and conv2 keep task A's weights; fc1, fc2 and the output layer learn task B "
                             f"({len(model.trainable_variables)} trainable variables, weights and biases).", "")
    return verdict(False, "", "nothing is frozen: set model.get_layer(name).trainable = False for conv1 and conv2."
                   if not frozen else f"you froze {frozen}: freeze the backbone (conv1, conv2) only, or the new "
                                      "head cannot learn.")


@checked
def check_forward_passes_saved(num_images, num_epochs, answer):
    """Exercise 10.3: backbone forward passes saved by computing frozen features once instead of every epoch."""
    images, epochs = whole(num_images, "num_images"), whole(num_epochs, "num_epochs")
    want, value = images * (epochs - 1), number(answer, "answer")
    hint = ("the features still have to be computed once: one pass per image before training."
            if value == images * epochs else "without caching: one pass per image per epoch; with it: one pass "
                                             "per image in all. Subtract.")
    return verdict(same_count(answer, want), f"{images:,} x {epochs} - {images:,} = {want:,} passes: the frozen "
                                             "backbone's work is done once instead of every epoch.", hint)
