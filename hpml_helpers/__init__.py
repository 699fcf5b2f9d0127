"""hpml_helpers: the small, tested helper package behind the HPML-CNN workshop notebooks.

Importing it is cheap: TensorFlow, Keras and MXNet are imported only by the functions that need them,
so a 2 GB Binder session is not spent before the first cell does any work. Importing it also makes
``import mxnet`` work with the kit's numpy (see ``backends.install_mxnet_numpy_shim``).

Modules, one concern each:
    backends     Intel/NVIDIA detection and selection, thread knobs, versions, the MXNet numpy shim
    data         the shipped MNIST subset, full Keras datasets when available, digits, sample images
    bench        timers and the GEMM peak of this machine
    conv         convolution by loops and by im2col + GEMM, output sizes, Sobel
    models       LeNet-5, a fully-connected baseline (Keras and Gluon under the same names)
    train        the four training steps written out (Keras GradientTape, Gluon autograd), History
    cost         parameters and multiply-accumulates per layer of a Keras model
    resnext      ResNeXt (grouped convolutions) as a Keras model, for counting slide 59's networks
    visualize    filters, activations, activation maximization, saliency, occlusion
    ablation     the cluttered-MNIST task and the AlexNet layer-removal experiment (notebook 04)
    roofline     memory bandwidth, layer intensities, the roofline model, GPU datasheets (notebook 06)
    training_speed  oneDNN/threads/precision/XLA and Keras-vs-Gluon training speed, measured (notebook 06)
    schedules    learning-rate scaling and warmup schedules (Keras, Gluon, numpy)
    allreduce_model  the ring-allreduce cost model, fusion and the scaling projection
    overlap      how much allreduce a Horovod timeline shows hidden behind backprop (notebook 08)
    large_batch  small vs large batch with linear scaling and warmup (notebook 09)
    transfer     pretraining, fine-tuning and frozen backbones; the ImageNet-weights check (notebook 10)
    distributed_plots  timelines and loss curves of the distributed runs (notebooks 07, 08)
    distributed  launchers for Horovod, MXNet's parameter server and their worker scripts
    interactive  widgets (the live kernel editor)
    exercises    check functions for the notebooks' exercises
    exercise_verdicts, exercise_checks_basics, exercise_checks_compute  the checks behind `exercises`
    paths        the repository root and the shared folders (workers, data, notebooks, build)
    threads      the environment variables that limit a worker process's math threads
"""
import os

# TensorFlow prints a page of C++ INFO lines on import; keep warnings and errors only.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from . import backends  # noqa: E402  (installs the MXNet numpy shim; imports no framework)

__all__ = ["ablation", "allreduce_model", "backends", "bench", "conv", "cost", "data", "distributed",
           "distributed_plots", "exercises", "interactive", "large_batch", "models", "paths", "resnext", "roofline",
           "schedules", "tables", "threads", "train", "training_speed", "transfer", "validation", "visualize"]
__version__ = "0.1.0"


def __getattr__(name):
    """Import submodules on first use, so ``hpml_helpers.data`` works without an explicit import."""
    if name in __all__:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'hpml_helpers' has no attribute {name!r}")
