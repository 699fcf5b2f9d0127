"""The kit's ResNeXt builds the published networks: parameters and multiply-adds as counted by others.

- ResNeXt-101 32x4d: 44.18 M parameters, 8.03 G multiply-adds per 224x224 image (mmpretrain's ResNeXt table;
  timm's resnext101_32x4d model card: 44.2 M, 8.0 GMACs). ResNeXt-50 32x4d: 25.03 M, 4.27 G (mmpretrain).
- ResNeXt-101 64x4d: 83.455 M parameters, 15.46 G multiply-adds (torchvision's resnext101_64x4d table).
"""
import math

import pytest

from hpml_helpers import cost, resnext

PUBLISHED = {  # (depth, cardinality, width): (M parameters, G multiply-adds)
    (101, 32, 4): (44.18, 8.03),
    (50, 32, 4): (25.03, 4.27),
    (101, 64, 4): (83.455, 15.46),
}


@pytest.mark.parametrize("shape", list(PUBLISHED), ids=[f"{d}_{c}x{w}d" for d, c, w in PUBLISHED])
def test_counted_parameters_and_macs_match_the_published_ones(shape):
    model, counted = cost.count_architecture(lambda: resnext.resnext(*shape))
    mparams, gmacs = PUBLISHED[shape]
    assert resnext.trainable_params(model) / 1e6 == pytest.approx(mparams, rel=0.002)
    assert counted.macs / 1e9 == pytest.approx(gmacs, rel=0.02)
    # batch normalization's moving mean and variance: counted as parameters by the kit, not by the tables
    assert counted.params > resnext.trainable_params(model) and counted.params == model.count_params()


def test_the_3x3_convolutions_are_grouped_and_cheaper_than_dense_ones():
    model, counted = cost.count_architecture(lambda: resnext.resnext(101, 32, 4))
    rows = {row["name"]: row for row in counted.table(as_text=False)}
    grouped = model.get_layer("stage1_block1_2_conv")
    assert grouped.groups == 32 and grouped.filters == 128 and grouped.strides == (1, 1)
    # 56x56 positions x 3x3 x (128 / 32) inputs x 128 outputs: a dense 3x3 would cost 32x as much
    assert rows["stage1_block1_2_conv"]["macs"] == 56 * 56 * 9 * 4 * 128
    assert model.get_layer("stage2_block1_2_conv").strides == (2, 2)  # the stride sits in the 3x3 (ResNeXt-B)
    assert model.output_shape == (None, 1000) and len(resnext.DEPTHS[101]) == 4 and sum(resnext.DEPTHS[101]) == 33


def test_more_classes_add_only_the_output_layer():
    small, small_cost = cost.count_architecture(lambda: resnext.resnext(101, 64, 4, num_classes=1000))
    large, large_cost = cost.count_architecture(lambda: resnext.resnext(101, 64, 4, num_classes=5000))
    assert large_cost.params - small_cost.params == 4000 * (2048 + 1)
    assert large_cost.macs - small_cost.macs == 4000 * 2048
    assert math.isclose(large_cost.macs, small_cost.macs, rel_tol=0.001)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"depth": 34}, ValueError, r"depth must be one of 50, 101, 152, got 34"),
    ({"depth": "101"}, TypeError, r"depth must be an integer"),
    ({"cardinality": 0}, ValueError, r"cardinality must be"),
    ({"width": 2.5}, TypeError, r"width must be an integer"),
    ({"num_classes": -1}, ValueError, r"num_classes must be"),
    ({"image_size": 16}, ValueError, r"image_size must be at least 32"),
])
def test_bad_arguments_are_refused_with_a_clear_message(kwargs, error, message):
    with pytest.raises(error, match=message):
        resnext.resnext(**kwargs)
