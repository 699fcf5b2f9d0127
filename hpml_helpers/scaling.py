"""Weak-scaling efficiency of real data-parallel training, next to the machine's no-communication control.

Used by notebook 08 (section 6: LeNet-5 on MNIST with Horovod + Gluon, Horovod + Keras 2 and
tf.distribute) and by ``bench/bench_distributed.py`` (the same three rows beside Horovod's synthetic
benchmark, whose runs it also measures with ``measure``).

- efficiency = total images/s of N workers / (N x images/s of 1 worker); 1.0 is perfect.
- control = the same ratio for N independent 1-worker jobs started together, one per core. They never
  communicate, so the control is the most this machine allows right now (shared memory bandwidth, other
  programs); on a busy machine it can even exceed 1, when the operating system hands the jobs more time.
- efficiency / control = the part lost to the distributed engine itself (allreduce, waiting for the
  slower worker each step).

Weak scaling means the same work per worker: ``train_lenet5_mnist`` gives the N-worker run N times the
epochs, so every worker takes as many steps of ``batch_size`` images as the single worker does.
"""
import concurrent.futures
import dataclasses

from hpml_helpers.validation import check_bool, check_integer

GLUON, KERAS2, TF_DISTRIBUTE = "Horovod + Gluon", "Horovod + Keras 2 (TF 2.15)", "tf.distribute + Keras 3"
FRAMEWORKS = (GLUON, KERAS2, TF_DISTRIBUTE)
# Efficiency / control each framework should reach on LeNet-5 MNIST (notebook 08, bench/bench_distributed.py).
TARGET_OF_CONTROL = {GLUON: 0.85, KERAS2: 0.85, TF_DISTRIBUTE: 0.7}
_HOROVOD_WORKERS = {GLUON: ("horovod_gluon_mnist", "mxnet"), KERAS2: ("horovod_keras_mnist", "tensorflow")}


def train_lenet5_mnist(framework, num_workers, batch_size=256, num_train=8000, epochs=2, first_core=0,
                       extra_args=(), bind_cores=True, oversubscribe=False, timeout=300):
    """One data-parallel LeNet-5 run on MNIST; returns the workers' results (``images_per_second`` each).

    ``framework`` is one of ``FRAMEWORKS``; ``batch_size`` is per worker; the run takes ``epochs`` x
    ``num_workers`` epochs of the first ``num_train`` images, so every worker makes the same number of
    steps whatever ``num_workers`` is (weak scaling). Every process gets one math thread and, with
    ``bind_cores``, its own core, counted from ``first_core``. ``extra_args`` go to the worker script
    (e.g. ``["--steps-per-call", 1]`` for tf.distribute).
    """
    from hpml_helpers import distributed

    if framework not in FRAMEWORKS:
        raise ValueError(f"framework must be one of {FRAMEWORKS}, got {framework!r}")
    check_integer(num_workers, "num_workers", minimum=1)
    check_integer(batch_size, "batch_size", minimum=1)
    check_integer(num_train, "num_train", minimum=1)
    check_integer(epochs, "epochs", minimum=1)
    check_integer(first_core, "first_core", minimum=0)
    check_bool(bind_cores, "bind_cores")
    args = ["--num-train", num_train, "--num-test", 1000, "--batch-size", batch_size,
            "--epochs", epochs * num_workers, "--log-every", 100_000, *extra_args]
    common = dict(args=args, threads_per_worker=1, oversubscribe=oversubscribe, stream=False, timeout=timeout,
                  bind_cores=bind_cores, env_vars={"HPML_CORE_OFFSET": first_core})
    if framework == TF_DISTRIBUTE:
        return distributed.run_tf_multiworker("tf_multiworker_mnist", num_workers=num_workers, **common)
    script, env = _HOROVOD_WORKERS[framework]
    return distributed.run_horovod(script, num_proc=num_workers, env=env, **common)


def total_images_per_second(results):
    """The workers' own rates summed: what N workers trained per second together."""
    return float(sum(result["images_per_second"] for result in results))


@dataclasses.dataclass
class ScalingMeasurement:
    """Best total images/s of 1 worker, of N workers, and of N independent 1-worker jobs (the control).

    ``results`` (filled by ``measure_lenet5_mnist``): the workers' results of the last run, keyed by
    (number of workers, first core); ``results[N, 0]`` is the last N-worker run.
    """

    num_workers: int
    one: float
    many: float
    independent: float
    rounds: int
    results: dict = dataclasses.field(default_factory=dict)

    @property
    def efficiency(self):
        return self.many / (self.num_workers * self.one)

    @property
    def control(self):
        return self.independent / (self.num_workers * self.one)

    @property
    def of_control(self):
        """efficiency / control: what the distributed engine kept of what the machine allowed."""
        return self.efficiency / self.control


def measure(run, num_workers=2, rounds=1):
    """Run 1 worker, ``num_workers`` workers and the control, alternately for ``rounds`` rounds.

    ``run(num_workers, first_core)`` starts one job and returns its total images/s. The control starts
    ``num_workers`` jobs of 1 worker at once on cores 0, 1, ... Each case keeps its best round: other
    programs on a shared machine only ever slow a run down, and alternating spreads that over all cases.
    """
    if not callable(run):
        raise TypeError(f"run must be a function (num_workers, first_core) -> images/s, got {run!r}")
    check_integer(num_workers, "num_workers", minimum=2)
    check_integer(rounds, "rounds", minimum=1)
    best = {"one": 0.0, "many": 0.0, "independent": 0.0}
    with concurrent.futures.ThreadPoolExecutor(num_workers) as pool:
        for _ in range(rounds):
            best["one"] = max(best["one"], run(1, 0))
            best["many"] = max(best["many"], run(num_workers, 0))
            best["independent"] = max(best["independent"], sum(pool.map(lambda core: run(1, core),
                                                                        range(num_workers))))
    if min(best.values()) <= 0:
        raise RuntimeError(f"a run reported no images/s ({best}): too few steps to time?")
    return ScalingMeasurement(num_workers=num_workers, rounds=rounds, **best)


def measure_lenet5_mnist(framework, num_workers=2, rounds=1, **options):
    """``measure`` for ``train_lenet5_mnist(framework, ...)``; ``options`` go to it (batch_size, ...)."""
    last = {}

    def run(workers, core):
        last[workers, core] = train_lenet5_mnist(framework, workers, first_core=core, **options)
        return total_images_per_second(last[workers, core])

    measurement = measure(run, num_workers=num_workers, rounds=rounds)
    measurement.results = last
    return measurement
