"""Tests for cost.count_application: keras.applications models counted by name, without their weights.

Published references:
- VGG-19: 19.6 G multiply-adds, 143.7 M parameters (torchvision's model table: 19.63 "GFLOPS", which there are
  multiply-adds; the lecture's slide 42 quotes the same 19.6).
- ResNet-101 and ResNet-152: 7.6 and 11.3 x 10^9 multiply-adds (He et al. 2016, Table 1, "FLOPs"), 44.7 M and
  60.4 M parameters (Keras Applications table).
"""
import pytest

from hpml_helpers import cost

PUBLISHED = {  # constructor name: (G multiply-adds, million parameters, relative tolerance of the MACs)
    "VGG19": (19.6, 143.7, 0.01),
    "ResNet101": (7.6, 44.7, 0.02),
    "ResNet152": (11.3, 60.4, 0.02),
}


@pytest.fixture(scope="module")
def counted():
    return {name: cost.count_application(name) for name in PUBLISHED}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_counts_match_the_published_numbers(counted, name):
    gmacs, mparams, tolerance = PUBLISHED[name]
    result = counted[name]
    assert isinstance(result, cost.Cost)
    assert result.macs / 1e9 == pytest.approx(gmacs, rel=tolerance)
    assert result.params / 1e6 == pytest.approx(mparams, rel=0.005)
    assert result.flops == 2 * result.macs
    assert result.input_shape == (224, 224, 3)


def test_counting_by_name_equals_counting_the_built_model(counted):
    import keras

    _, direct = cost.count_architecture(lambda: keras.applications.VGG19(weights=None))
    assert (direct.macs, direct.params) == (counted["VGG19"].macs, counted["VGG19"].params)


def test_deeper_resnets_cost_more(counted):
    resnet50 = cost.count_application("ResNet50")
    assert resnet50.macs < counted["ResNet101"].macs < counted["ResNet152"].macs


@pytest.mark.parametrize("name, error, pattern", [
    (None, TypeError, r"name must be a string"),
    (19, TypeError, r"name must be a string"),
    (b"VGG19", TypeError, r"name must be a string"),
    ("", ValueError, r"name must not be empty"),
    ("VGG20", ValueError, r"name must name a keras.applications model.*got 'VGG20'"),
    ("vgg19", ValueError, r"name must name a keras.applications model.*known: .*VGG19"),
    ("_private", ValueError, r"name must name a keras.applications model"),
    ("imagenet_utils", ValueError, r"name must name a keras.applications model"),
])
def test_bad_names_are_refused(name, error, pattern):
    with pytest.raises(error, match=pattern):
        cost.count_application(name)
