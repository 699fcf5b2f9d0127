"""Interactive widgets for the notebooks (ipywidgets): the live 3x3 convolution-kernel editor of notebook 01.

``kernel_editor(image)`` shows nine sliders (the kernel weights), a preset menu (identity, blur, sharpen,
Sobel x, Sobel y) and the filtered image, recomputed with the kit's own ``conv.conv2d`` whenever a weight
changes. The pictures are ``ipywidgets.Image`` PNGs, so they render in JupyterLab without a plotting backend.
Every argument is checked first: a wrong one gets a ValueError or TypeError naming it.
Used by notebook 01-convolution-and-sobel.
"""
import io

from . import validation

PRESETS = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "blur": [[1 / 9] * 3] * 3,
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "Sobel x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "Sobel y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
}


def to_png(array):
    """A 2-D array as PNG bytes, its range stretched to 0..255 (constant arrays become mid-grey)."""
    import numpy as np
    from PIL import Image

    array = validation.check_array(array, "array", dtype=np.float64)  # numbers, not empty, finite
    if array.ndim != 2:
        raise ValueError(f"array must be 2-D, got shape {array.shape}")
    low, high = float(array.min()), float(array.max())
    scaled = np.full(array.shape, 128.0) if high - low < 1e-12 else (array - low) / (high - low) * 255.0
    buffer = io.BytesIO()
    Image.fromarray(np.rint(scaled).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def check_grey_image(image, name="image"):
    """``image`` as a numpy array: a 2-D grey image of finite numbers, not empty."""
    array = validation.check_array(image, name)  # numbers, not empty, finite
    if array.ndim != 2 or min(array.shape) < 1:
        hint = " (for a colour image pass image.mean(axis=-1))" if array.ndim == 3 else ""
        raise ValueError(f"{name} must be a 2-D grey image (H, W), got shape {array.shape}{hint}")
    return array


def apply_kernel(image, kernel):
    """Filter a grey image with a 3x3 kernel using the kit's convolution ("same" padding)."""
    import numpy as np

    from .conv import conv2d

    image = check_grey_image(image).astype(np.float32)
    kernel = validation.check_array(kernel, "kernel", dtype=np.float32)  # numbers, not empty, finite
    if kernel.shape != (3, 3):
        raise ValueError(f"kernel must be 3x3 (a 2-D odd square, like the presets), got shape {kernel.shape}")
    return conv2d(image[None, :, :, None], kernel[:, :, None, None], padding="same")[0, :, :, 0]


def _check_preset(preset):
    if not isinstance(preset, str) or preset not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")


class KernelEditor:
    """The widget: ``.widget`` to display, ``.kernel`` and ``.output`` for the current state."""

    def __init__(self, image, preset="Sobel x", size=256):
        image = check_grey_image(image)
        _check_preset(preset)
        size = validation.check_positive_int(size, "size")
        import ipywidgets as widgets
        import numpy as np

        self.image = image.astype(np.float32) / (255.0 if image.dtype == np.uint8 else 1.0)
        layout = widgets.Layout(width="250px")
        self.sliders = [widgets.FloatSlider(value=0.0, min=-4.0, max=4.0, step=0.05, readout_format=".2f",
                                            continuous_update=False, layout=layout,
                                            description=f"w[{row},{col}]", style={"description_width": "45px"})
                        for row in range(3) for col in range(3)]
        self.presets = widgets.Dropdown(options=list(PRESETS), value=preset, description="preset")
        self.input_view = widgets.Image(value=to_png(self.image), format="png", width=size, height=size)
        self.output_view = widgets.Image(format="png", width=size, height=size)
        self.status = widgets.HTML()
        grid = widgets.GridBox(self.sliders, layout=widgets.Layout(grid_template_columns="repeat(3, 260px)"))
        pictures = widgets.HBox([widgets.VBox([widgets.HTML("<b>input</b>"), self.input_view]),
                                 widgets.VBox([widgets.HTML("<b>output = input * kernel</b>"), self.output_view])])
        self.widget = widgets.VBox([self.presets, grid, self.status, pictures])
        self._loading = False
        self.presets.observe(lambda change: self.load(change["new"]), names="value")
        for slider in self.sliders:
            slider.observe(lambda change: self.update(), names="value")
        self.load(preset)

    @property
    def kernel(self):
        """The 3x3 kernel the sliders hold."""
        import numpy as np

        return np.array([slider.value for slider in self.sliders], dtype=np.float32).reshape(3, 3)

    def load(self, preset):
        """Set the sliders to a preset kernel and redraw once."""
        _check_preset(preset)
        self._loading = True
        try:
            for slider, value in zip(self.sliders, [v for row in PRESETS[preset] for v in row]):
                slider.value = round(value, 2)
        finally:
            self._loading = False
        self.update()

    def update(self):
        """Recompute the output image from the current kernel."""
        if self._loading:
            return
        self.output = apply_kernel(self.image, self.kernel)
        self.output_view.value = to_png(self.output)
        self.status.value = (f"kernel sum {self.kernel.sum():+.2f}; output range "
                             f"[{self.output.min():.2f}, {self.output.max():.2f}] (stretched to black..white)")


def kernel_editor(image, preset="Sobel x", size=256):
    """Build the live kernel editor for a grey image; display ``editor.widget`` in a notebook."""
    return KernelEditor(image, preset, size)
