"""Notebook 10's exercise checks accept a right answer, reject a wrong one, and tolerate the placeholder."""
import pytest

from hpml_helpers import exercises, models, transfer


def freeze_backbone(model):
    for name in ("conv1", "conv2"):
        model.get_layer(name).trainable = False
    return model


def freeze_everything(model):
    for layer in model.layers:
        layer.trainable = False
    return model


# Right answer, wrong answer, the `...` placeholder: run by test_exercises.py::test_check.
CASES = [
    (exercises.check_trainable_parameters, (5, 58_709), (5, 61_281), (5, ...)),
    (exercises.check_trainable_parameters, (3, 58_539), (3, 58_709), (3, ...)),
    (exercises.check_freeze_backbone, (freeze_backbone,), (lambda model: model,), (lambda model: ...,)),
    (exercises.check_forward_passes_saved, (500, 20, 9_500), (500, 20, 10_000), (500, 20, ...)),
]


def test_the_answers_the_solutions_give():
    import keras

    assert exercises.check_trainable_parameters(5, 400 * 120 + 120 + 120 * 84 + 84 + 84 * 5 + 5)
    keras.utils.set_random_seed(0)
    pretrained = models.lenet5(num_classes=5)
    frozen = transfer.transfer_model(pretrained, 5, ("conv1", "conv2"), freeze=True)
    assert exercises.check_trainable_parameters(5, transfer.trainable_parameters(frozen)[0])
    assert exercises.check_freeze_backbone(freeze_backbone)
    assert exercises.check_freeze_backbone(lambda model: freeze_backbone(model) and None)  # returning None is fine
    assert exercises.check_forward_passes_saved(500, 20, 500 * 20 - 500)


def test_hints_name_the_usual_mistakes(capsys):
    exercises.check_trainable_parameters(5, 61_281)
    assert "counts conv1 and conv2 too" in capsys.readouterr().out
    exercises.check_trainable_parameters(5, 425)
    assert "output layer alone" in capsys.readouterr().out
    exercises.check_trainable_parameters(5, 58_709 - 5 - 120 - 84)
    assert "one bias per unit" in capsys.readouterr().out
    exercises.check_freeze_backbone(lambda model: model)
    assert "nothing is frozen" in capsys.readouterr().out
    exercises.check_freeze_backbone(freeze_everything)
    assert "the new head cannot learn" in capsys.readouterr().out
    exercises.check_forward_passes_saved(500, 20, 10_000)
    assert "computed once" in capsys.readouterr().out


@pytest.mark.parametrize("call, message", [
    (lambda: exercises.check_trainable_parameters(5, "58709"), "answer must be a number"),
    (lambda: exercises.check_freeze_backbone(42), "freeze_function must be a function"),
    (lambda: exercises.check_freeze_backbone(lambda model: "frozen"), "must change the model it is given"),
    (lambda: exercises.check_forward_passes_saved(500, 20, [9500]), "answer must be a number"),
])
def test_wrong_kind_of_answer_prints_what_is_wrong(call, message, capsys):
    assert call() is False
    assert message in capsys.readouterr().out
