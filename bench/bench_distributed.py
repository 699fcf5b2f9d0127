"""Distributed training on this machine: weak scaling of real training, allreduce latency/bandwidth, tensor fusion.

Four measurements, all with real processes on 127.0.0.1 (Horovod with Gloo, or tf.distribute), one math
thread each:
1. Weak scaling of the synthetic benchmark (LeNet-5, random data, per-worker batch 512): images/s of
   1 worker x 1 thread and total images/s of 2 workers x 1 thread; efficiency = total(2) / (2 x rate(1)),
   goal >= 0.85. A control runs two independent 1-worker jobs at the same time (no communication at
   all): its efficiency is the most this machine allows right now (shared cores, memory bandwidth), so
   efficiency / control is the part lost to Horovod itself. Every rank is bound to its own core
   (``bind_cores=True``, as ``mpirun --bind-to core``), the 1-worker run included: unbound, Horovod's
   and MXNet's helper threads wander onto the other rank's core and cost 5-10 points of efficiency.
   ``hpml_helpers.scaling.measure`` runs the three cases.
2. Weak scaling of real training: LeNet-5 on MNIST with Horovod + Gluon, Horovod + Keras 2 and
   tf.distribute (``scaling.measure_lenet5_mnist``, the same call as notebook 08 section 6), batch 512 per
   worker; efficiency / control, goals >= 0.85 (Horovod) and >= 0.7 (tf.distribute). Horovod + Keras 2
   needs the second environment (.venv-tf-horovod); without it its rows say so.
3. Allreduce times over buffer sizes (64 B ... 64 MB; ``quick``: up to 4 MB), and the ring model
   T = 2(p-1) alpha + 2(p-1)/p N/B fitted to them (``hpml_helpers.allreduce_model.fit_alpha_beta``).
4. Tensor fusion: 64 tensors of 4 KB allreduced asynchronously, with Horovod's default fusion threshold
   and with HOROVOD_FUSION_THRESHOLD=0.
Cases run alternately for a few rounds and the best round of each is kept: other processes on a shared
machine only ever slow a run down.

``run(quick=False)`` returns rows {"benchmark", "case", "value", "unit", "note"}; ``bench/run.py``
collects them. ``python bench/bench_distributed.py [--quick]`` prints them.
"""
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:  # run as a script: make the kit importable without installing it
    sys.path.insert(0, ROOT)

from hpml_helpers import scaling  # noqa: E402  (light: no framework is imported)

TARGET_EFFICIENCY = 0.85
# Per-worker batch: LeNet-5 computes little per image, so a big batch keeps the step (~50 ms on one core)
# long against the gradient allreduce (247 KB, a few ms); at batch 128 communication weighs 4x more.
BATCH_SIZE = 512
SCALING = "horovod_weak_scaling_lenet5"
ALLREDUCE = "horovod_allreduce_gloo_2ranks"
FUSION = "horovod_tensor_fusion_64x4KB"
TRAINING = {scaling.GLUON: "horovod_gluon_lenet5_mnist", scaling.KERAS2: "horovod_keras2_lenet5_mnist",
            scaling.TF_DISTRIBUTE: "tf_distribute_lenet5_mnist"}  # framework -> benchmark name


def _synthetic(num_proc, quick, first_core=0):
    """One run of the synthetic benchmark: (total images/s, fewest cores a worker got)."""
    from hpml_helpers import distributed

    args = ["--batch-size", BATCH_SIZE, "--num-warmup-batches", 3, "--num-batches-per-iter", 5,
            "--num-iters", 3 if quick else 4]
    results = distributed.run_horovod("horovod_synthetic_benchmark", num_proc=num_proc, args=args, timeout=300,
                                      threads_per_worker=1, stream=False, bind_cores=True,
                                      env_vars={"HPML_CORE_OFFSET": first_core})
    total = float(sum(np.median(result["rates"]) for result in results))  # median iteration of each worker
    return total, min(result["cores_used"] for result in results)


def _scaling_rows(quick):
    rounds = 1 if quick else 3
    cores = []  # the fewest cores any synthetic worker got, per run

    def run(num_proc, first_core):
        total, fewest = _synthetic(num_proc, quick, first_core)
        cores.append(fewest)
        return total

    measured = scaling.measure(run, num_workers=2, rounds=rounds)
    efficiency, ceiling = measured.efficiency, measured.control
    note = f"best of {rounds} round(s), LeNet-5, batch {BATCH_SIZE} per worker, one core per rank"
    return [
        {"benchmark": SCALING, "case": "1 worker x 1 thread", "value": measured.one, "unit": "images/s",
         "note": note},
        {"benchmark": SCALING, "case": "2 workers x 1 thread (total)", "value": measured.many, "unit": "images/s",
         "note": f"{note}; every worker got >= {min(cores):.2f} cores (< 1: other processes took the rest)"},
        {"benchmark": SCALING, "case": "efficiency", "value": efficiency, "unit": "ratio",
         "note": f"total(2) / (2 x rate(1)); goal >= {TARGET_EFFICIENCY}: "
                 f"{'met' if efficiency >= TARGET_EFFICIENCY else 'NOT met'}"},
        {"benchmark": SCALING, "case": "control: 2 independent 1-worker jobs", "value": ceiling, "unit": "ratio",
         "note": f"no communication: what the machine allows now ({measured.independent:.0f} images/s); "
                 f"efficiency / control = {efficiency / ceiling:.2f}"},
    ]


def _training_rows(quick):
    """Efficiency / control of LeNet-5 MNIST training with Horovod + Gluon, Horovod + Keras 2, tf.distribute."""
    from hpml_helpers import distributed

    rounds = 1 if quick else 2
    rows = []
    for framework in scaling.FRAMEWORKS:
        benchmark = TRAINING[framework]
        goal = scaling.TARGET_OF_CONTROL[framework]
        if framework == scaling.KERAS2:
            try:
                distributed.horovod_python("tensorflow")
            except RuntimeError as missing:
                rows.append({"benchmark": benchmark, "case": "efficiency / control", "value": float("nan"),
                             "unit": "ratio", "note": f"NOT MEASURED: {missing}"})
                continue
        measured = scaling.measure_lenet5_mnist(framework, num_workers=2, rounds=rounds, batch_size=BATCH_SIZE,
                                                num_train=2048 if quick else 8000, epochs=1 if quick else 2)
        note = f"best of {rounds} round(s), batch {BATCH_SIZE} per worker, same steps per worker, one core each"
        rows += [
            {"benchmark": benchmark, "case": "1 worker x 1 thread", "value": measured.one, "unit": "images/s",
             "note": note},
            {"benchmark": benchmark, "case": "2 workers x 1 thread (total)", "value": measured.many,
             "unit": "images/s", "note": note},
            {"benchmark": benchmark, "case": "efficiency", "value": measured.efficiency, "unit": "ratio",
             "note": "total(2) / (2 x rate(1))"},
            {"benchmark": benchmark, "case": "control: 2 independent 1-worker jobs", "value": measured.control,
             "unit": "ratio", "note": f"no communication ({measured.independent:.0f} images/s)"},
            {"benchmark": benchmark, "case": "efficiency / control", "value": measured.of_control, "unit": "ratio",
             "note": f"goal >= {goal}: {'met' if measured.of_control >= goal else 'NOT met'}"},
        ]
    return rows


def _allreduce(quick, env_vars=None):
    from hpml_helpers import distributed

    args = ["--quick"] if quick else []
    return distributed.run_horovod("horovod_allreduce_benchmark", num_proc=2, args=args, timeout=400,
                                   threads_per_worker=1, stream=False, env_vars=env_vars)


def _allreduce_rows(quick):
    from hpml_helpers import allreduce_model

    fused_runs, unfused_runs = [], []
    for _ in range(1 if quick else 2):
        fused_runs.append(_allreduce(quick))
        unfused_runs.append(_allreduce(quick, {"HOROVOD_FUSION_THRESHOLD": 0}))
    # Per size: the slower rank's median (an allreduce is done when both have it), best over the runs.
    sizes = fused_runs[0][0]["sizes"]
    seconds = np.min([np.max([result["median_seconds"] for result in run], axis=0)
                      for run in fused_runs + unfused_runs], axis=0)  # one buffer: fusion plays no part
    fit = allreduce_model.fit_alpha_beta(sizes, seconds, num_workers=2)
    rows = [{"benchmark": ALLREDUCE, "case": f"{size:,d} B", "value": value * 1e6, "unit": "us",
             "note": f"median; model {fit.predict(size) * 1e6:.0f} us"} for size, value in zip(sizes, seconds)]
    rows += [
        {"benchmark": ALLREDUCE, "case": "alpha (latency)", "value": fit.latency * 1e6, "unit": "us",
         "note": "ring model T = 2(p-1) alpha + 2(p-1)/p N/B, p = 2; includes Horovod's cycle time"},
        {"benchmark": ALLREDUCE, "case": "B (bandwidth)", "value": fit.bandwidth / 1e9, "unit": "GB/s",
         "note": f"R^2 {fit.r_squared:.3f}; loopback TCP (Gloo) on one machine"},
    ]
    fused = min(max(r["fusion"]["median_seconds"] for r in run) for run in fused_runs)
    unfused = min(max(r["fusion"]["median_seconds"] for r in run) for run in unfused_runs)
    rows += [
        {"benchmark": FUSION, "case": "fusion on (default threshold)", "value": fused * 1e3, "unit": "ms",
         "note": "64 tensors enqueued with hvd.allreduce_, then waited for"},
        {"benchmark": FUSION, "case": "fusion off (HOROVOD_FUSION_THRESHOLD=0)", "value": unfused * 1e3,
         "unit": "ms", "note": "one allreduce per tensor"},
        {"benchmark": FUSION, "case": "speed-up from fusion", "value": unfused / fused, "unit": "x",
         "note": "off / on"},
    ]
    return rows


def run(quick=False):
    """Weak-scaling rows (synthetic, then real training), then allreduce and fusion rows."""
    return _scaling_rows(quick) + _training_rows(quick) + _allreduce_rows(quick)


if __name__ == "__main__":
    import hpml_helpers  # noqa: F401  (MXNet numpy shim)

    for row in run(quick="--quick" in sys.argv):
        print(row)
