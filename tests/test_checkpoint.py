"""train.train(checkpoint=path): killed mid-run, it resumes where it stopped; a finished run trains nothing;
a checkpoint of another model, other settings or a corrupt file is refused with a message naming the file."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import hpml_helpers  # noqa: F401  (applies the MXNet numpy shim before mxnet is imported)
from hpml_helpers import checkpoint, models, train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST = os.path.join(ROOT, "data", "mnist_subset.npz")
NUM_EPOCHS, NUM_IMAGES, BATCH_SIZE = 6, 1024, 32
SETTINGS = dict(num_epochs=NUM_EPOCHS, batch_size=BATCH_SIZE, learning_rate=0.05, optimizer="momentum",
                progress=False, seed=0)

# The child trains exactly as fresh_model() + train() below do, and is killed during its second epoch or later.
CHILD = textwrap.dedent("""
    import sys
    import numpy as np
    import hpml_helpers
    from hpml_helpers import models, train
    framework, path = sys.argv[1], sys.argv[2]
    with np.load({mnist!r}) as data:
        x, y = data["x_train"][:{n}], data["y_train"][:{n}]
    if framework == "keras":
        import keras; keras.utils.set_random_seed(0)
    else:
        import mxnet as mx; mx.random.seed(0)
    model = models.lenet5(framework)
    train.train(model, x, y, framework=framework, checkpoint=path, **{settings!r})
""").format(mnist=MNIST, n=NUM_IMAGES, settings=SETTINGS)


@pytest.fixture(scope="module")
def digits():
    with np.load(MNIST) as data:
        return data["x_train"][:NUM_IMAGES], data["y_train"][:NUM_IMAGES]


def fresh_model(framework):
    if framework == "keras":
        import keras

        keras.utils.set_random_seed(0)
    else:
        import mxnet as mx

        mx.random.seed(0)
    return models.lenet5(framework)


def weights(model, framework):
    if framework == "keras":
        return model.get_weights()
    return [parameter.data().asnumpy() for parameter in model.collect_params().values()]


def kill_after_first_epoch(framework, path):
    """Start the child, SIGKILL it as soon as a checkpoint with >= 1 epoch exists; return the epochs saved."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, framework, str(path)], cwd=ROOT,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    try:
        while time.monotonic() < deadline and child.poll() is None:
            meta = checkpoint.info(path) if path.exists() else None
            if meta and meta["epochs"] >= 1:
                os.kill(child.pid, signal.SIGKILL)  # mid-epoch: no chance to save anything more
                break
            time.sleep(0.01)
    finally:
        if child.poll() is None:
            child.kill()
        _, errors = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL, f"the child was not killed in time: {errors.decode()[-2000:]}"
    return checkpoint.info(path)


@pytest.mark.parametrize("framework", ["keras", "gluon"])
def test_a_killed_run_resumes_and_ends_like_an_uninterrupted_one(tmp_path, digits, framework):
    x, y = digits
    path = tmp_path / "run.npz"
    saved = kill_after_first_epoch(framework, path)
    done = saved["epochs"]
    assert 1 <= done < NUM_EPOCHS  # killed before the end, after at least one epoch was saved
    assert not [name for name in os.listdir(tmp_path) if name != "run.npz" and not name.endswith(".tmp")]

    model = fresh_model(framework)
    resumed = train.train(model, x, y, framework=framework, checkpoint=path, **SETTINGS)
    assert len(resumed) == NUM_EPOCHS and resumed.resumed_epochs == done  # only the missing epochs trained
    assert resumed.loss[:done] == pytest.approx(saved["history"]["loss"])  # the saved epochs are kept, not redone
    assert checkpoint.info(path)["epochs"] == NUM_EPOCHS

    reference_model = fresh_model(framework)
    reference = train.train(reference_model, x, y, framework=framework, **SETTINGS)
    # Same initial weights, optimizer state and shuffles: the resumed run retraces the uninterrupted one.
    # CPU kernels are deterministic here; the tolerance covers summation-order noise between processes.
    assert resumed.loss == pytest.approx(reference.loss, rel=1e-3)
    for resumed_weights, reference_weights in zip(weights(model, framework), weights(reference_model, framework)):
        np.testing.assert_allclose(resumed_weights, reference_weights, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("framework", ["keras", "gluon"])
def test_a_finished_run_trains_nothing_and_mismatches_are_refused(tmp_path, digits, framework):
    x, y = digits[0][:256], digits[1][:256]
    path = tmp_path / "short.npz"
    arguments = {**SETTINGS, "num_epochs": 2}
    first = train.train(fresh_model(framework), x, y, framework=framework, checkpoint=path, **arguments)
    stored = checkpoint.info(path)
    assert stored["epochs"] == 2 and len(first) == 2

    model = fresh_model(framework)
    again = train.train(model, x, y, framework=framework, checkpoint=path, **arguments)
    assert again.resumed_epochs == 2 and again.loss == first.loss  # nothing trained
    assert checkpoint.info(path)["rng"] == stored["rng"]
    loss, _ = train.evaluate(model, x, y, framework=framework)
    assert np.isfinite(loss) and loss < 2.3  # the trained weights came back, not fresh ones

    with pytest.raises(checkpoint.CheckpointError, match="batch_size.*delete"):
        train.train(fresh_model(framework), x, y, framework=framework, checkpoint=path,
                    **{**arguments, "batch_size": 16})
    with pytest.raises(checkpoint.CheckpointError, match="data"):
        train.train(fresh_model(framework), x[::-1], y[::-1], framework=framework, checkpoint=path, **arguments)
    other = models.fully_connected(framework) if framework == "keras" else models.lenet5(framework, activation="tanh")
    if framework == "keras":  # another architecture: the shapes differ
        with pytest.raises(checkpoint.CheckpointError, match="another model"):
            train.train(other, x, y, framework=framework, checkpoint=path, **arguments)
    with pytest.raises(checkpoint.CheckpointError, match="more than num_epochs"):
        train.train(fresh_model(framework), x, y, framework=framework, checkpoint=path,
                    **{**arguments, "num_epochs": 1})
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(checkpoint.CheckpointError, match=f"{path}.*corrupt.*delete"):
        train.train(fresh_model(framework), x, y, framework=framework, checkpoint=path, **arguments)


def test_run_paths_differ_by_settings(tmp_path):
    first = checkpoint.run_path(tmp_path / "new", "batch 64", batch_size=64, learning_rate=0.1)
    assert first.parent.is_dir() and first.name.startswith("batch_64-")
    assert first == checkpoint.run_path(tmp_path / "new", "batch 64", learning_rate=0.1, batch_size=64)
    assert first != checkpoint.run_path(tmp_path / "new", "batch 64", batch_size=64, learning_rate=0.2)
    assert checkpoint.info(tmp_path / "missing.npz") is None
