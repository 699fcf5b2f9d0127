"""Checkpoints for ``train.train``: nothing is lost when a kernel dies or a long run is stopped.

``train.train(..., checkpoint=path)`` calls ``save`` after every epoch: the model's weights, the optimizer's
state (momentum, Adam's moments, the update counter that drives a schedule), the History so far, the
epoch counter and the shuffling RNG's state, in one ``.npz`` file. It is written to a temporary file in
the same folder and moved over the old one with ``os.replace``, so a kill at any moment leaves either the
previous checkpoint or the new one, never half a file. Called again with the same path, ``train`` reads it
back (``load``) and trains only the epochs still missing, shuffling as the uninterrupted run would have.
A checkpoint made with other settings (model, framework, data, batch size, rates, seed) is refused with a
message naming the file: delete it to start afresh.
- ``run_path(folder, name, **settings)``: one file per run of a sweep, its name derived from the settings,
  so a changed parameter never picks up a stale checkpoint (used by ``ablation``, ``large_batch``,
  ``transfer`` and notebooks 04, 09 and 10).
- ``resume(path, settings, loop, history, rng, num_epochs)`` and ``saver(...)``: what ``train.train`` calls
  to read a checkpoint back into its loop (Keras or Gluon) and to write one after each epoch.
- ``info(path)``: the metadata of a checkpoint (epochs done, settings), or None when there is none.
Used by ``train.train``; no private file format: ``numpy.load`` opens it.
"""
import hashlib
import json
import os
import pathlib
import re
import zlib

import numpy as np

from . import validation

FORMAT = "hpml-checkpoint-1"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: corrupt, or made by another model or other settings."""


def data_fingerprint(images, labels):
    """A cheap fingerprint of a data set: its shape and checksums of its labels and of a sample of images."""
    step = max(1, len(images) // 64)
    return f"{images.shape}:{zlib.crc32(np.ascontiguousarray(labels).tobytes())}:" \
           f"{zlib.crc32(np.ascontiguousarray(images[::step]).tobytes())}"


def run_path(folder, name, **settings):
    """``folder/<name>-<key>.npz``: the key is a hash of ``settings``, so other settings mean another file."""
    folder = validation.check_path(folder, "checkpoint_dir (folder)")
    name = re.sub(r"[^A-Za-z0-9_.+-]+", "_", validation.check_string(name, "name")).strip("_") or "run"
    text = json.dumps(settings, sort_keys=True, default=repr)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}-{hashlib.sha1(text.encode()).hexdigest()[:10]}.npz"


def _delete_hint(path):
    return f"delete {path} to start this run afresh (or pass another checkpoint path)"


def info(path):
    """The metadata dict of the checkpoint at ``path`` (``epochs``, ``settings``, ...), None if it does not exist."""
    path = validation.check_path(path, "checkpoint")
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            meta = json.loads(str(stored["meta"]))
    except Exception as error:  # zip, npz and JSON errors alike: the file is unusable
        raise CheckpointError(f"checkpoint {path} is corrupt or not a checkpoint ({type(error).__name__}: "
                              f"{error}); {_delete_hint(path)}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {path} is not a training checkpoint of this kit; {_delete_hint(path)}")
    return meta


def save(path, meta, weights, optimizer_state):
    """Write ``meta`` (JSON-able), ``weights`` and ``optimizer_state`` (lists of arrays) to ``path`` atomically."""
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"w{index}": np.asarray(value) for index, value in enumerate(weights)}
    arrays.update({f"o{index}": np.asarray(value) for index, value in enumerate(optimizer_state)})
    meta = {**meta, "format": FORMAT, "num_weights": len(weights), "num_optimizer": len(optimizer_state)}
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "wb") as file:
            np.savez(file, meta=np.array(json.dumps(meta)), **arrays)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)  # atomic: readers see the old file or the new one
    finally:
        if temporary.exists():
            temporary.unlink()


def load(path, settings):
    """(meta, weights, optimizer_state) of the checkpoint at ``path``, None if there is none; the stored
    settings must equal ``settings`` (a dict), else CheckpointError naming the first difference."""
    meta = info(path)
    if meta is None:
        return None
    stored = meta.get("settings", {})
    expected = json.loads(json.dumps(settings))  # tuples become lists, as in the file
    for key in sorted(set(stored) | set(expected)):
        if stored.get(key) != expected.get(key):
            raise CheckpointError(f"checkpoint {path} was made with other settings ({key}: "
                                  f"{stored.get(key)!r} in the file, {expected.get(key)!r} now); "
                                  f"{_delete_hint(path)}")
    try:
        with np.load(path, allow_pickle=False) as arrays:
            weights = [arrays[f"w{index}"] for index in range(meta["num_weights"])]
            optimizer_state = [arrays[f"o{index}"] for index in range(meta["num_optimizer"])]
    except Exception as error:
        raise CheckpointError(f"checkpoint {path} is corrupt ({type(error).__name__}: {error}); "
                              f"{_delete_hint(path)}") from None
    return meta, weights, optimizer_state


def check_shapes(path, stored, current, what):
    """CheckpointError unless the stored arrays have the shapes of the model's (another architecture)."""
    if [tuple(np.shape(a)) for a in stored] != [tuple(np.shape(b)) for b in current]:
        raise CheckpointError(f"checkpoint {path} holds the {what} of another model (other layer shapes); "
                              f"{_delete_hint(path)}")


# --- The training loop's state (train.py's Keras and Gluon loops: .model, and .optimizer or .trainer) ----------
def _weights(loop):
    if hasattr(loop, "trainer"):  # Gluon
        return [parameter.data(loop.context).asnumpy() for parameter in loop.model.collect_params().values()]
    return loop.model.get_weights()


def _trainer_scratch_file(loop, folder):
    """Where a Gluon Trainer's states pass through on their way into or out of a checkpoint."""
    return folder / f".trainer-{os.getpid()}-{id(loop)}.states"


def _optimizer_state(loop, folder):
    if not hasattr(loop, "trainer"):
        return [variable.numpy() for variable in loop.optimizer.variables]
    # The Trainer writes its state (momentum, update count, schedule) to a file only: read it back as bytes.
    scratch = _trainer_scratch_file(loop, folder)
    try:
        loop.trainer.save_states(str(scratch))
        return [np.frombuffer(scratch.read_bytes(), dtype=np.uint8)]
    finally:
        scratch.unlink(missing_ok=True)


def _restore(loop, weights, optimizer_state, folder):
    if not hasattr(loop, "trainer"):
        loop.model.set_weights(weights)
        for variable, value in zip(loop.optimizer.variables, optimizer_state):
            variable.assign(value)
        return
    import mxnet as mx

    for parameter, value in zip(loop.model.collect_params().values(), weights):
        parameter.set_data(mx.nd.array(value, dtype=value.dtype))
    scratch = _trainer_scratch_file(loop, folder)
    try:
        scratch.write_bytes(np.asarray(optimizer_state[0], dtype=np.uint8).tobytes())
        loop.trainer.load_states(str(scratch))
    finally:
        scratch.unlink(missing_ok=True)


def resume(path, settings, loop, history, rng, num_epochs):
    """Load the checkpoint at ``path`` (if any) into the loop, ``history`` and ``rng``; returns the epochs done."""
    stored = load(path, settings)
    if stored is None:
        return 0
    meta, weights, optimizer_state = stored
    if meta["epochs"] > num_epochs:
        raise CheckpointError(f"checkpoint {path} holds {meta['epochs']} epochs, more than num_epochs={num_epochs}; "
                              f"ask for more epochs or {_delete_hint(path)}")
    check_shapes(path, weights, _weights(loop), "weights")
    _restore(loop, weights, optimizer_state, path.parent)
    history.restore(meta["history"])
    rng.bit_generator.state = meta["rng"]  # the shuffles continue as if never stopped
    return meta["epochs"]


def saver(path, settings, loop, history, rng):
    """``save(epoch)``: write the loop's state, ``history`` and ``rng`` to ``path`` after that many epochs."""
    def save_epoch(epoch):
        meta = {"epochs": epoch, "settings": settings, "history": history.state(), "rng": rng.bit_generator.state}
        save(path, meta, _weights(loop), _optimizer_state(loop, path.parent))

    return save_epoch
