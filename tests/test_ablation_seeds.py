"""Tests for ablation.run over several seeds: the mean and standard deviation per variant, refused seeds, the
validation split and the checkpoint each (variant, seed) keeps; plus ablation.table's ``mean ± std %``.

Tiny data (48 training canvases, 1 epoch, 2 seeds, 2 variants): the numbers are meaningless, the bookkeeping
is what is tested.
"""
import math

import numpy as np
import pytest

import hpml_helpers  # noqa: F401  (applies the MXNet numpy shim before mxnet is imported)
from hpml_helpers import ablation, checkpoint

REMOVALS = [(), (3, 4, 6, 7)]
SETTINGS = dict(removals=REMOVALS, num_epochs=1, batch_size=16, verbose=False, optimizer="momentum",
                learning_rate=0.01, warmup_epochs=0.5, cosine=True, batch_norm=True, dropout=0.0)


def _task(count=80, seed=0):
    """Fake 28x28 items (a bright 20x20 block of random ink) on 64x64 cluttered canvases, 3 classes."""
    rng = np.random.default_rng(seed)
    images = np.zeros((count, 28, 28), np.uint8)
    images[:, 4:24, 4:24] = rng.integers(100, 256, size=(count, 20, 20))
    task = ablation.cluttered_mnist(images, np.arange(count) % 3, canvas_size=64, seed=seed)
    return task.images, task.labels


@pytest.fixture(scope="module")
def task():
    images, labels = _task()
    return {"train": (images[:48], labels[:48]), "test": (images[48:64], labels[48:64]),
            "val": (images[64:], labels[64:])}


@pytest.fixture(scope="module")
def seeded(task, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ablation-checkpoints")
    rows = ablation.run(*task["train"], *task["test"], seeds=(0, 1), validation_data=task["val"],
                        checkpoint_dir=folder, **SETTINGS)
    files = {path.name: path.stat().st_mtime_ns for path in folder.glob("*.npz")}
    return rows, folder, files


def test_mean_and_std_are_those_of_the_per_seed_errors(seeded):
    rows, _, _ = seeded
    assert [row["variant"] for row in rows] == ["full", "without 3, 4, 6, 7"]
    for row in rows:
        errors = row["test_errors"]
        assert row["seeds"] == [0, 1] and len(errors) == 2 and len(row["curves"]) == 2
        assert all(0 <= error <= 100 for error in errors)
        assert math.isclose(row["test_error_mean"], np.mean(errors), abs_tol=0.01)
        assert math.isclose(row["test_error_std"], np.std(errors, ddof=1), abs_tol=0.01)
        assert row["test_error"] == row["test_error_mean"]  # what plot() and "change" use
        assert row["curve_set"] == "validation" and len(row["test_error_curve"]) == 1
    assert rows[0]["change"] == 0
    assert math.isclose(rows[1]["change"], rows[1]["test_error_mean"] - rows[0]["test_error_mean"], abs_tol=0.02)


def test_table_shows_mean_plus_minus_std(seeded):
    rows, _, _ = seeded
    frame = ablation.table(rows)
    heading = "test error (mean ± std over 2 seeds)"
    for row in rows:
        assert frame.loc[row["variant"], heading] == f"{row['test_error_mean']:.1f} ± {row['test_error_std']:.1f} %"
    assert frame.loc["without 3, 4, 6, 7", "paper error (%)"] == 71.3


@pytest.mark.parametrize("row, text", [
    ({"test_error_mean": 23.456, "test_error_std": 1.234}, "23.5 ± 1.2 %"),
    ({"test_error_mean": 10.0, "test_error_std": float("nan")}, "10.0 %"),  # one seed: no spread to show
    ({"test_error": 7.25}, "7.2 %"),
])
def test_mean_std_text(row, text):
    assert ablation.mean_std_text(row) == text


def test_a_single_seed_has_no_standard_deviation(task):
    rows = ablation.run(*task["train"], *task["test"], seeds=(3,), **dict(SETTINGS, removals=[(3, 4, 6, 7)]))
    assert rows[0]["seeds"] == [3] and rows[0]["test_error_mean"] == rows[0]["test_errors"][0]
    assert math.isnan(rows[0]["test_error_std"])
    assert ablation.table(rows).iloc[0]["test error"].endswith(" %")


def test_each_variant_and_seed_keeps_its_own_checkpoint_and_resumes(task, seeded):
    rows, folder, files = seeded
    assert len(files) == len(REMOVALS) * 2  # one file per (variant, seed), named after the variant
    assert sorted(name.split("-")[0] for name in files) == ["full", "full", "without_3_4_6_7", "without_3_4_6_7"]
    for name in files:
        assert checkpoint.info(folder / name)["epochs"] == 1
    # Seeds (1, 2): seed 1 resumes from its finished checkpoint (not written again), seed 2 is new.
    again = ablation.run(*task["train"], *task["test"], seeds=(1, 2), validation_data=task["val"],
                         checkpoint_dir=folder, **SETTINGS)
    after = {path.name: path.stat().st_mtime_ns for path in folder.glob("*.npz")}
    assert len(after) == len(REMOVALS) * 3
    assert all(after[name] == stamp for name, stamp in files.items())  # seed 0 and 1 files: not rewritten
    for old, new in zip(rows, again):
        assert new["test_errors"][0] == old["test_errors"][1]  # seed 1: the same trained weights, tested again


@pytest.mark.parametrize("seeds, error, match", [
    (3, TypeError, r"seeds must be a sequence .*\(3,\)"),
    ((), ValueError, r"seeds must not be empty"),
    ("012", TypeError, r"seeds must be a list"),
    ((0, 0), ValueError, r"seeds must be distinct"),
    ((0, -1), ValueError, r"seeds must be an integer >= 0"),
    ((0, 1.5), TypeError, r"seeds must be an integer"),
    ((True,), TypeError, r"seeds must be an integer"),
    (("0",), TypeError, r"seeds must be an integer"),
    ((0, float("nan")), TypeError, r"seeds must be an integer"),
])
def test_bad_seeds_are_refused_before_training(task, seeds, error, match):
    with pytest.raises(error, match=match):
        ablation.run(*task["train"], *task["test"], seeds=seeds, **SETTINGS)


@pytest.mark.parametrize("changes, error, match", [
    ({"warmup_epochs": -1}, ValueError, r"warmup_epochs"),
    ({"warmup_epochs": float("inf")}, ValueError, r"warmup_epochs"),
    ({"cosine": "yes"}, TypeError, r"cosine must be True or False"),
    ({"batch_norm": 1}, TypeError, r"batch_norm must be True or False"),
    ({"validation_data": "val"}, ValueError, r"validation_data must be a pair"),
    ({"validation_data": (np.zeros((4, 32, 32), np.uint8), np.zeros(4, int))}, ValueError,
     r"validation_data holds images of shape"),
    ({"seed": -1, "seeds": None}, ValueError, r"seed must be an integer >= 0"),
])
def test_other_bad_arguments_name_themselves(task, changes, error, match):
    with pytest.raises(error, match=match):
        ablation.run(*task["train"], *task["test"], **dict(SETTINGS, **changes))

