"""The kernel editor of notebook 01: presets, live updates on a slider change, and input checks."""
import io

import numpy as np
import pytest
from PIL import Image

from hpml_helpers import data, interactive


def decode(png):
    return np.asarray(Image.open(io.BytesIO(png)))


def test_editor_updates_when_a_weight_moves():
    image = data.sample_image("camera")[::4, ::4]
    editor = interactive.kernel_editor(image, preset="identity")
    np.testing.assert_allclose(editor.output, image / 255.0, atol=1e-6)  # identity kernel: output = input
    before = editor.output_view.value
    editor.sliders[4].value = 0.0  # centre weight off
    editor.sliders[5].value = 1.0  # now the kernel shifts the image by one pixel
    assert editor.output_view.value != before
    np.testing.assert_allclose(editor.output[:, :-1], image[:, 1:] / 255.0, atol=1e-6)


def test_presets_set_the_sliders_and_sobel_finds_edges():
    image = np.zeros((32, 32), dtype=np.uint8)
    image[:, 16:] = 255  # one vertical edge
    editor = interactive.kernel_editor(image, preset="blur")
    editor.presets.value = "Sobel x"
    np.testing.assert_allclose(editor.kernel, interactive.PRESETS["Sobel x"])
    response = np.abs(editor.output[4:-4])  # away from the zero-padded border
    assert response[:, 15:17].min() > 1.0 and response[:, :13].max() < 1e-6


def test_to_png_stretches_and_handles_constants():
    assert decode(interactive.to_png(np.array([[0.0, 2.0]]))).tolist() == [[0, 255]]
    assert decode(interactive.to_png(np.ones((2, 2)))).tolist() == [[128, 128], [128, 128]]


def test_bad_inputs():
    with pytest.raises(ValueError, match="preset must be one of identity, blur"):
        interactive.kernel_editor(np.zeros((8, 8)), preset="emboss")
    with pytest.raises(ValueError, match="image must be a 2-D grey image"):
        interactive.kernel_editor(np.zeros((8, 8, 3)))
    with pytest.raises(ValueError, match="kernel must be 3x3"):
        interactive.apply_kernel(np.zeros((8, 8)), np.ones((5, 5)))
