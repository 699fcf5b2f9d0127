"""hpml_helpers.data_scaling: power-law fits, training compute, argument checks and a tiny resumable sweep."""
import numpy as np
import pytest

from hpml_helpers import cost, data_scaling


# ------------------------------------------------------------------------------------------ power laws

@pytest.mark.parametrize("a, b", [(80.0, 0.3), (5.0, 0.08), (300.0, 0.55)])
def test_the_fit_recovers_a_known_exponent(a, b):
    sizes = np.geomspace(500, 50_000, 6)
    fit = data_scaling.fit_power_law(sizes, a * sizes ** -b)
    assert fit.b == pytest.approx(b, rel=1e-6) and fit.a == pytest.approx(a, rel=1e-6) and fit.c == 0.0
    assert fit(1000) == pytest.approx(a * 1000 ** -b)


def test_the_fit_with_an_offset_recovers_the_floor_and_the_exponent():
    sizes = np.geomspace(500, 50_000, 7)
    fit = data_scaling.fit_power_law(sizes, 60.0 * sizes ** -0.4 + 3.0, offset=True)
    assert fit.b == pytest.approx(0.4, abs=0.03) and fit.c == pytest.approx(3.0, abs=0.2)
    # Without the offset the floor flattens the curve: the plain fit's exponent comes out smaller.
    assert data_scaling.fit_power_law(sizes, 60.0 * sizes ** -0.4 + 3.0).b < 0.4


def test_noisy_points_still_give_the_exponent_roughly():
    sizes = np.geomspace(550, 55_000, 5)
    noise = np.exp(np.random.default_rng(0).normal(0, 0.02, len(sizes)))
    assert data_scaling.fit_power_law(sizes, 40 * sizes ** -0.25 * noise).b == pytest.approx(0.25, abs=0.03)


# ------------------------------------------------------------------------------------------ compute

def test_training_compute_is_macs_times_3_times_images_seen():
    model = data_scaling.cnn(4)
    macs = cost.count(model).macs
    assert data_scaling.training_macs(macs, 12_345) == 3 * macs * 12_345
    assert data_scaling.training_flops(macs, 12_345) == 2 * 3 * macs * 12_345 == 3 * cost.count(model).flops * 12_345
    assert np.allclose(data_scaling.training_macs(macs, [10, 20]), [30 * macs, 60 * macs])


def test_the_width_scales_every_layer():
    small, large = (cost.count(data_scaling.cnn(width)) for width in (2, 4))
    assert [row["output_shape"][-1] for row in small.rows if row["macs"]] == [2, 4, 8, 10]
    assert 3 < large.macs / small.macs < 4 and large.params > 3 * small.params


def test_sizes_are_log_spaced_and_the_validation_split_is_taken_once():
    assert data_scaling.training_sizes(550, 55_000, 5) == [550, 1739, 5500, 17393, 55000]
    x, y = np.arange(100 * 4).reshape(100, 2, 2).astype(np.uint8), np.arange(100) % 10
    x_train, y_train, x_val, y_val = data_scaling.split_validation(x, y, 20, seed=1)
    assert len(x_val) == 20 and len(x_train) == 80
    assert sorted(x_train[:, 0, 0].tolist() + x_val[:, 0, 0].tolist()) == sorted(x[:, 0, 0].tolist())
    again = data_scaling.split_validation(x, y, 20, seed=1)
    assert np.array_equal(again[2], x_val)


@pytest.mark.parametrize("errors, converged", [
    ([30, 25, 22, 21], False),                       # still improving
    ([30, 25, 22, 22.5, 23, 22.1], True),            # 3 rounds without a new best
    ([22.8, 21.6, 21.1, 21.0, 20.7, 20.8, 20.6], False),  # 20.6 beats 21.0 by more than 0.2
    ([22.8, 21.6, 21.1, 21.0, 20.7, 20.8, 20.6, 20.7], True),  # 20.6 beats 20.7 by only 0.1: noise, stop
    ([30, 29], False),                               # fewer rounds than the patience
])
def test_the_rule_stops_when_the_validation_error_no_longer_improves(errors, converged):
    assert data_scaling.StoppingRule(patience=3, min_delta=0.2).converged(errors) is converged


def test_a_stopping_rule_makes_small_sets_into_rounds_of_enough_images():
    rule = data_scaling.StoppingRule(min_round_images=5000)
    assert [rule.epochs_per_round(n) for n in (550, 1739, 5000, 55_000)] == [10, 3, 1, 1]
    assert data_scaling.StoppingRule().epochs_per_round(550) == 19  # the default: rounds of >= 10,000 images


# ------------------------------------------------------------------------------------------ bad inputs

IMAGES = np.zeros((40, 8, 8), np.uint8)
LABELS = np.arange(40) % 2
SETS = (IMAGES, LABELS, IMAGES[:8], LABELS[:8], IMAGES[:8], LABELS[:8])
S = np.geomspace(100, 10_000, 4)
E = 10 * S ** -0.2


@pytest.mark.parametrize("call, error, match", [
    (lambda: data_scaling.fit_power_law(S, E[:3]), ValueError, "sizes and errors"),
    (lambda: data_scaling.fit_power_law(S, -E), ValueError, "errors must be finite and > 0"),
    (lambda: data_scaling.fit_power_law([0, 1, 2, 3], E), ValueError, "sizes must be finite"),
    (lambda: data_scaling.fit_power_law(S, [1, np.nan, 2, 3]), ValueError, "errors must be finite"),
    (lambda: data_scaling.fit_power_law([100, 100], [5, 4]), ValueError, "at least 2 different sizes"),
    (lambda: data_scaling.fit_power_law(S[:2], E[:2], offset=True), ValueError, "at least 3 different sizes"),
    (lambda: data_scaling.fit_power_law(["100", "200"], [5, 4]), TypeError, "sizes must be a number"),
    (lambda: data_scaling.fit_power_law(S, E, offset="yes"), TypeError, "offset must be True or False"),
    (lambda: data_scaling.training_macs(1000, 1.5), ValueError, "images_seen must be whole numbers"),
    (lambda: data_scaling.training_macs(0, 100), ValueError, "macs_per_image must be finite and > 0"),
    (lambda: data_scaling.training_flops(True, 100), TypeError, "macs_per_image must be a number"),
    (lambda: data_scaling.training_sizes(500, 500), ValueError, "largest .* must be larger than smallest"),
    (lambda: data_scaling.training_sizes(10, 12, 5), ValueError, "num_sizes .* do not fit"),
    (lambda: data_scaling.training_sizes(0, 100), ValueError, "smallest must be an integer >= 1"),
    (lambda: data_scaling.training_sizes(10, 1000, 1), ValueError, "num_sizes must be an integer >= 2"),
    (lambda: data_scaling.cnn(0), ValueError, "width must be an integer >= 1"),
    (lambda: data_scaling.cnn(2.5), TypeError, "width must be an integer"),
    (lambda: data_scaling.cnn(4, input_shape=(2, 2, 1)), ValueError, "input_shape must be at least 4x4"),
    (lambda: data_scaling.StoppingRule(patience=0), ValueError, "patience must be an integer >= 1"),
    (lambda: data_scaling.StoppingRule(learning_rate=float("nan")), ValueError, "learning_rate must be a finite"),
    (lambda: data_scaling.StoppingRule(optimizer="lbfgs"), ValueError, "optimizer must be one of"),
    (lambda: data_scaling.StoppingRule(min_delta=-0.1), ValueError, "min_delta must be >= 0"),
    (lambda: data_scaling.StoppingRule(max_rounds=True), TypeError, "max_rounds must be an integer"),
    (lambda: data_scaling.grid([], "loss"), ValueError, "points must not be empty"),
    (lambda: data_scaling.StoppingRule(batch_size=600, min_round_images=500), ValueError, "batch_size .* <= "),
    (lambda: data_scaling.split_validation(IMAGES, LABELS, 40), ValueError, "num_validation .* must be smaller"),
    (lambda: data_scaling.split_validation(IMAGES, LABELS[:5], 4), ValueError, "x has 40 images but y has 5"),
    (lambda: data_scaling.split_validation(IMAGES, LABELS, True), TypeError, "num_validation must be an integer"),
    (lambda: data_scaling.train_point(*SETS, 41, 2), ValueError, "num_train .* is more than the 40"),
    (lambda: data_scaling.train_point(*SETS, 10, 2, rule="fast"), TypeError, "rule must be a StoppingRule"),
    (lambda: data_scaling.train_point(*SETS[:4], IMAGES[:8, :4], LABELS[:8], 10, 2), ValueError,
     "x_test has images of shape"),
    (lambda: data_scaling.train_point(None, LABELS, *SETS[2:], 10, 2), TypeError, "x_train must be an array"),
    (lambda: data_scaling.train_point(*SETS, 10, 2, checkpoint_dir=3), TypeError, "checkpoint_dir must be a file"),
    (lambda: data_scaling.sweep(*SETS, [10, 10], [2]), ValueError, "sizes must be distinct"),
    (lambda: data_scaling.sweep(*SETS, [10, 50], [2]), ValueError, "sizes go up to 50"),
    (lambda: data_scaling.sweep(*SETS, [10], []), ValueError, "widths must not be empty"),
    (lambda: data_scaling.sweep(*SETS, "10", [2]), TypeError, "sizes must be a list"),
    (lambda: data_scaling.sweep(*SETS, [10], [2], verbose=1), TypeError, "verbose must be True or False"),
    (lambda: data_scaling.findings([1, 2]), TypeError, "points must be a list of Points"),
    (lambda: data_scaling.table([]), ValueError, "points must not be empty"),
    (lambda: data_scaling.plot_error_vs_data([], None), ValueError, "points must not be empty"),
])
def test_bad_inputs_are_refused_with_a_clear_message(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ------------------------------------------------------------------------------------------ a tiny sweep

@pytest.fixture(scope="module")
def tiny():
    """A 4-class problem of 8x8 images whose class is the slightly brighter quadrant, in strong noise."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 400)
    images = rng.integers(0, 100, (400, 8, 8)).astype(np.uint8)
    for index, label in enumerate(labels):
        row, column = divmod(int(label), 2)
        images[index, 4 * row:4 * row + 4, 4 * column:4 * column + 4] += 25
    return images[:240], labels[:240], images[240:320], labels[240:320], images[320:], labels[320:]


RULE = data_scaling.StoppingRule(patience=1, max_rounds=2, min_round_images=96, batch_size=32, learning_rate=0.01,
                                 min_delta=0.0)


def test_a_tiny_sweep_runs_and_resumes_from_its_checkpoints(tiny, tmp_path):
    points = data_scaling.sweep(*tiny, [48, 240], [1, 3], RULE, checkpoint_dir=tmp_path, verbose=False)
    assert [(p.width, p.num_train) for p in points] == [(1, 48), (1, 240), (3, 48), (3, 240)]
    for point in points:
        assert 1 <= point.best_round <= point.rounds <= 2 and point.stopped_by in ("patience", "budget")
        assert point.images_seen == point.rounds * (point.epochs_per_round * point.num_train // 32) * 32
        assert point.training_flops == 6 * point.macs * point.images_seen
        assert 0 < point.test_error <= 100
    assert points[0].epochs_per_round == 2 and points[1].epochs_per_round == 1
    assert len(list(tmp_path.glob("*-best.npz"))) == 4  # one checkpoint and one best round per point
    again = data_scaling.sweep(*tiny, [48, 240], [1, 3], RULE, checkpoint_dir=tmp_path, verbose=False)
    assert [(p.val_error, p.test_error, p.seconds) for p in again] == \
           [(p.val_error, p.test_error, p.seconds) for p in points]  # read back: nothing trained again
    facts = data_scaling.findings(points)
    assert facts["sizes"] == [48, 240] and facts["widths"] == [1, 3]
    assert facts["compute_grows_with_width"] is all(b.training_flops > a.training_flops
                                                    for a, b in zip(points[:2], points[2:]))
    assert set(data_scaling.fit_per_width(points)) == {1, 3}
    assert len(data_scaling.table(points)) == 4


def test_an_interrupted_point_resumes_where_it_stopped(tiny, tmp_path):
    short = data_scaling.StoppingRule(patience=5, max_rounds=2, min_round_images=96, batch_size=32,
                                      learning_rate=0.01)
    first = data_scaling.train_point(*tiny, 96, 2, short, checkpoint_dir=tmp_path)
    # A run with the same settings and the same path is found on disk: the two rounds are not trained again.
    again = data_scaling.train_point(*tiny, 96, 2, short, checkpoint_dir=tmp_path)
    assert again.val_error == first.val_error and again.test_error == first.test_error
    assert again.seconds == first.seconds


def test_the_test_set_is_scored_once_after_training_and_never_steers_it(tiny, tmp_path, monkeypatch):
    from hpml_helpers import train

    calls, original_train, original_evaluate = [], train.train, train.evaluate

    def spy_train(*args, validation_data=None, **kwargs):
        calls.append(("train", validation_data[0] is tiny[2]))  # stopping is steered by the validation set
        return original_train(*args, validation_data=validation_data, **kwargs)

    def spy_evaluate(model, x, y, *args, **kwargs):
        calls.append(("evaluate", x is tiny[4]))
        return original_evaluate(model, x, y, *args, **kwargs)

    monkeypatch.setattr(train, "train", spy_train)
    monkeypatch.setattr(train, "evaluate", spy_evaluate)
    point = data_scaling.train_point(*tiny, 48, 1, RULE, checkpoint_dir=tmp_path)
    assert calls == [("train", True)] * point.rounds + [("evaluate", True)]
