"""What a Keras model costs: parameters and multiply-accumulates (MACs) per image, layer by layer.

- ``count(model, input_shape=None)`` walks the model's graph (Functional or Sequential, nested models
  included, recursively) and returns a ``Cost``: ``cost.params``, ``cost.macs``, ``cost.flops``, a
  per-layer ``cost.table()`` (a DataFrame, or a list of dicts) and ``cost.plot()`` (bar charts per layer).
- ``count_architecture(build)`` costs ``build()``'s model without allocating its weights (VGG-16 in no memory);
  ``count_application("VGG19")`` does so for a ``keras.applications`` model named by its constructor.
- ``compare({"VGG-16": vgg, "ResNet-50": resnet})`` gives one row per model (params, MACs, FLOPs);
  ``table(rows)`` shows such rows as a DataFrame and ``plot_model_costs(rows)`` draws them.
- ``PUBLISHED_TOP1``: the published ImageNet top-1 accuracy of the models notebook 06 counts, with sources.

Counting conventions (the ones the published numbers below use):
- One MAC is one multiply-add. FLOPs = 2 x MACs. Counts are per image (batch size 1).
- Convolution (Conv1D/2D/3D, ``groups`` included): k_h * k_w * C_in / groups * C_out MACs per output
  position, i.e. every output element costs one kernel's worth of multiply-adds. DepthwiseConv1D/2D:
  k_h * k_w per output element. SeparableConv1D/2D: its depthwise part plus its 1x1 pointwise part.
  Conv*DTranspose: k_h * k_w * C_out per *input* element. Dense: inputs x units per position (a Dense
  on a (T, D) tensor costs T x D x units). TimeDistributed: its layer's cost times the time steps.
- Biases are not counted as MACs (they are an addition, not a multiply-add, and published counts leave
  them out). Their parameters are counted.
- BatchNormalization counts 0 MACs: at inference it is folded into the preceding convolution's weights
  and bias, which is what frameworks do and what the published numbers assume. Its parameters (gamma,
  beta and the moving mean and variance) are counted, as ``model.count_params()`` counts them.
  LayerNormalization, GroupNormalization, Normalization, PReLU and Embedding (a table look-up) count
  0 MACs too.
- Pooling, activations, Add, Multiply, Concatenate, Flatten, Reshape, ZeroPadding, Dropout and other
  layers without weights count 0 MACs, silently; so do ``keras.ops`` operations placed in a graph.
- A layer type this module does not know that HAS weights raises ``ValueError`` naming the layer and
  its type: guessing its cost silently would give a wrong total.
- Parameters: every weight, trainable or not, counted once even when a layer is shared, so the total
  always equals ``model.count_params()``.

Checked against published numbers (tests/test_cost.py, within 2%):
- VGG-16 (``keras.applications.VGG16``): 15.47 GMAC, 138.4 M parameters (torchvision's table).
- ResNet-50 (``keras.applications.ResNet50``): 3.8 GMAC (He et al. 2016, Table 1, "3.8 x 10^9 FLOPs",
  which there means multiply-adds) and 25.6 M parameters. Keras's ResNet50 is the original v1, with
  the stride in the first 1x1 convolution of a block; torchvision's ResNet-50 is "v1.5", with the
  stride in the 3x3 convolution, which makes the 3x3 run on 4x more positions: 4.09 GMAC.
- AlexNet (torchvision's single-tower layout): 0.714 GMAC, 61.1 M parameters.
- MobileNet v1 (``keras.applications.MobileNet``, 224x224): 569 M mult-adds, 4.2 M parameters
  (Howard et al. 2017, Table 8).

Used by notebooks 04-alexnet-depth-ablation, 06-compute-and-hardware, 07-parameter-server and
08-allreduce-and-horovod.
"""
import math

from .validation import check_bool, check_number, check_positive_number, check_sequence, check_string, is_integer

# Layers with weights whose inference cost is elementwise (or a look-up): 0 MACs by convention.
ZERO_MAC_WEIGHTED_LAYERS = ("BatchNormalization", "LayerNormalization", "GroupNormalization",
                            "Normalization", "PReLU", "Embedding")
TABLE_COLUMNS = ("name", "type", "output_shape", "params", "macs")

# Published ImageNet top-1 accuracy (single centre crop, ILSVRC-2012 validation set), next to the counts.
KERAS_APPLICATIONS_TABLE = "Keras Applications table, https://keras.io/api/applications/"
PUBLISHED_TOP1 = {
    "AlexNet": (56.5, "torchvision AlexNet_Weights.IMAGENET1K_V1 (acc@1 56.522), same single-tower layout "
                      "as counted here; Krizhevsky et al. 2012, Table 2: one CNN, 40.7% top-1 error = 59.3%"),
    "VGG-16": (71.3, KERAS_APPLICATIONS_TABLE), "InceptionV3": (77.9, KERAS_APPLICATIONS_TABLE),
    "ResNet-50": (74.9, KERAS_APPLICATIONS_TABLE), "ResNet-101": (76.4, KERAS_APPLICATIONS_TABLE),
}


class Cost:
    """Parameters and MACs of one model: per-layer rows plus totals (``params``, ``macs``, ``flops``)."""

    def __init__(self, model_name, input_shape, rows):
        self.model_name = model_name
        self.input_shape = input_shape
        self.rows = rows

    @property
    def params(self):
        """Total number of parameters (equals ``model.count_params()``)."""
        return sum(row["params"] for row in self.rows)

    @property
    def macs(self):
        """Total multiply-accumulates for one image."""
        return sum(row["macs"] for row in self.rows)

    @property
    def flops(self):
        """Floating-point operations for one image: 2 per MAC (a multiply and an add)."""
        return 2 * self.macs

    def table(self, as_text=None, nonzero_only=False):
        """The per-layer table as a DataFrame with a total line (default), or, with ``as_text=False``,
        the rows as a list of dicts (notebook 04 reads them)."""
        if as_text is not None:
            check_bool(as_text, "as_text")
        rows = [row for row in self.rows if row["params"] or row["macs"]] if check_bool(
            nonzero_only, "nonzero_only") else self.rows
        if as_text is False:
            return [dict(row) for row in rows]
        total = {"name": "total", "type": "", "output_shape": "", "params": self.params, "macs": self.macs}
        return table([dict(row, output_shape=str(row["output_shape"])) for row in rows] + [total],
                     list(TABLE_COLUMNS))

    def summary(self):
        """One line: parameters, MACs and FLOPs per image of this model."""
        return (f"{self.model_name}: {self.params / 1e6:.2f} M parameters, {self.macs / 1e9:.3f} GMAC"
                f" = {self.flops / 1e9:.3f} GFLOP per image of shape {self.input_shape}")

    def plot(self, nonzero_only=True, figsize=None):
        """Bar charts of MACs and parameters per layer; returns the matplotlib figure."""
        import matplotlib.pyplot as plt

        rows = [row for row in self.rows if row["params"] or row["macs"]] if check_bool(
            nonzero_only, "nonzero_only") else self.rows
        names = [row["name"] for row in rows]
        if figsize is not None and (isinstance(figsize, (str, dict)) or not hasattr(figsize, "__len__")
                                    or len(figsize) != 2):
            raise TypeError(f"figsize must be a (width, height) pair in inches or None, got {figsize!r}")
        figsize = (tuple(check_positive_number(size, "figsize") for size in figsize) if figsize
                   else (max(6.0, 0.25 * len(rows) + 2.0), 6.0))
        figure, (macs_axis, params_axis) = plt.subplots(2, 1, sharex=True, figsize=figsize)
        positions = range(len(rows))
        macs_axis.bar(positions, [row["macs"] / 1e6 for row in rows], color="tab:blue")
        macs_axis.set_ylabel("MACs (millions)")
        macs_axis.set_title(f"{self.model_name}: {self.macs / 1e9:.2f} GMAC, {self.params / 1e6:.1f} M parameters")
        params_axis.bar(positions, [row["params"] / 1e6 for row in rows], color="tab:orange")
        params_axis.set_ylabel("parameters (millions)")
        params_axis.set_xticks(list(positions))
        params_axis.set_xticklabels(names, rotation=90, fontsize=7)
        figure.tight_layout()
        return figure

    def __str__(self):
        return self.table().to_string() + "\n" + self.summary()

    def __repr__(self):
        return (f"Cost({self.model_name!r}: params={self.params:,}, macs={self.macs:,}, "
                f"flops={self.flops:,}, layers={len(self.rows)})")


def table(rows, columns=None):
    """A list of dicts (``compare`` rows, ``Cost.table(as_text=False)`` rows) as a DataFrame for display."""
    from . import tables

    rows = check_sequence(rows, "rows", allow_empty=True)
    if not all(isinstance(row, dict) for row in rows):
        raise TypeError("rows must be a list of dicts")
    if columns is not None:
        columns = [check_string(column, "columns") for column in check_sequence(columns, "columns")]
    return tables.table(rows, columns=columns)


def count(model, input_shape=None):
    """Parameters and MACs per image of a Keras model, layer by layer (see the module's conventions)."""
    keras = _keras_or_type_error(model)
    if not _is_graph_model(model):
        raise ValueError(f"model {model.name!r} ({type(model).__name__}) is a subclassed model without a "
                         "graph to walk: count its Functional or Sequential parts instead")
    shapes = _input_shapes(model, input_shape)
    if input_shape is not None:
        _check_matches_model(model, shapes, input_shape)
    try:
        if isinstance(model, keras.Sequential) and not model.built:
            model.build((None,) + shapes[0])
        inputs = [keras.KerasTensor(shape=(None,) + shape, dtype="float32") for shape in shapes]
        rows = []
        _walk_model(model, inputs, prefix="", seen=set(), rows=rows)
    except (ValueError, TypeError, IndexError) as error:
        if input_shape is None or "cost counter does not know" in str(error):
            raise
        raise ValueError(f"input_shape {input_shape!r} does not fit model {model.name!r}: "
                         f"{str(error).splitlines()[0]}") from None
    return Cost(model.name, shapes[0] if len(shapes) == 1 else shapes, rows)


def _check_matches_model(model, shapes, input_shape):
    """``input_shape`` must have the rank and channels the model was built for (the spatial size may differ)."""
    if not model.built or not _has_inputs(model):
        return
    expected = [tuple(tensor.shape[1:]) for tensor in model.inputs]
    if len(expected) != len(shapes):
        raise ValueError(f"input_shape {input_shape!r} gives {len(shapes)} input(s) but model {model.name!r} "
                         f"expects {len(expected)}: {expected}")
    for shape, wanted in zip(shapes, expected):
        if len(shape) != len(wanted):
            raise ValueError(f"input_shape {input_shape!r} has {len(shape)} entries but model {model.name!r} "
                             f"expects {len(wanted)} per image, of shape {wanted} (None: any size)")
        if wanted[-1] is not None and shape[-1] != wanted[-1]:
            raise ValueError(f"input_shape {input_shape!r} has {shape[-1]} channels (its last entry) but model "
                             f"{model.name!r} takes {wanted[-1]} channels: images of shape {wanted} (None: any size)")


def count_architecture(build):
    """(model, Cost) of ``build()``, a Keras model built without allocating its weights (notebooks 06-08)."""
    import keras

    if not callable(build) or isinstance(build, keras.Model):  # a model is callable too: not what we need
        raise TypeError(f"build must be a function returning a Keras model, got {type(build).__name__}")
    # Keras 3 defers initializing variables created in a StatelessScope; we never initialize them.
    from keras.src.backend.common import global_state

    pending = list(global_state.get_global_attribute("uninitialized_variables", []) or [])
    try:
        with keras.StatelessScope(initialize_variables=False):
            model = build()
            counted = count(model)
    finally:  # forget our variables, so no later scope initializes them behind our back
        global_state.set_global_attribute("uninitialized_variables", pending)
    return model, counted


def count_application(name):
    """Cost of ``keras.applications.<name>(weights=None)``, e.g. "VGG19" or "ResNet152", no weights allocated."""
    import keras

    build = getattr(keras.applications, check_string(name, "name"), None)
    if name.startswith("_") or not callable(build):
        known = sorted(key for key in dir(keras.applications) if not key.startswith("_")
                       and callable(getattr(keras.applications, key)) and key[0].isupper())
        raise ValueError(f"name must name a keras.applications model such as 'VGG19' or 'ResNet152', got {name!r}; "
                         f"known: {', '.join(known)}")
    return count_architecture(lambda: build(weights=None))[1]


def plot_model_costs(rows):
    """Bars of GFLOPs (2 x MACs) and of million parameters per model, from ``compare`` rows (notebook 06)."""
    rows = check_sequence(rows, "rows")
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise TypeError(f"rows[{index}] must be a compare() row (a dict), got {row!r}")
        for key in ("model", "flops", "params"):
            if key not in row:
                raise ValueError(f"rows[{index}] has no {key!r} key: compare() rows have model, flops and params")
        check_number(row["flops"], f"rows[{index}]['flops']", minimum=0)
        check_number(row["params"], f"rows[{index}]['params']", minimum=0)
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    names = [str(row["model"]) for row in rows]
    for ax, key, scale, color, label in ((axes[0], "flops", 1e9, "tab:blue", "GFLOPs per image (forward)"),
                                         (axes[1], "params", 1e6, "tab:orange", "parameters (millions)")):
        bars = ax.bar(names, [row[key] / scale for row in rows], color=color)
        ax.bar_label(bars, fmt="%.1f", fontsize=8)
        ax.set_title(label)
        ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    figure.tight_layout()
    return figure


def compare(models, input_shape=None):
    """One row per model (name, params, MACs, FLOPs) from a dict {name: Keras model or Cost}."""
    if not isinstance(models, dict) or not models:
        raise TypeError("models must be a non-empty dict {name: Keras model}, "
                        f"got {type(models).__name__}")
    import keras

    for name, model in models.items():
        if not isinstance(model, (Cost, keras.Model)):
            raise TypeError(f"models[{name!r}] must be a Keras Model or a Cost, got {type(model).__name__}")
    table = []
    for name, model in models.items():
        cost = model if isinstance(model, Cost) else count(model, input_shape)
        table.append({"model": str(name), "params": cost.params, "macs": cost.macs, "flops": cost.flops,
                      "gmacs": round(cost.macs / 1e9, 3), "mparams": round(cost.params / 1e6, 2)})
    return table


# ---------------------------------------------------------------------------------------------
# Graph walking
# ---------------------------------------------------------------------------------------------
def _keras_or_type_error(model):
    """Import Keras and check ``model`` is a Keras Model; Layers and Gluon blocks get a clear TypeError."""
    import keras

    if model is None:
        raise TypeError("model must be a Keras Model (Functional or Sequential), got None")
    if not isinstance(model, keras.Model):
        kind = type(model).__module__.split(".")[0] + "." + type(model).__name__
        hint = " (wrap a single layer in keras.Sequential)" if isinstance(model, keras.layers.Layer) else ""
        raise TypeError(f"model must be a Keras Model (Functional or Sequential), got {kind}{hint}")
    return keras


def _input_shapes(model, input_shape):
    """The per-image input shape(s), without the batch axis, as a list of int tuples."""
    if input_shape is not None:
        if not isinstance(input_shape, (list, tuple)):
            raise TypeError(f"input_shape must be a tuple such as (224, 224, 3), got {input_shape!r}")
        candidates = input_shape if input_shape and isinstance(input_shape[0], (list, tuple)) else [input_shape]
        shapes = []
        for shape in candidates:
            if not isinstance(shape, (list, tuple)) or not shape or not all(
                    is_integer(size) and size > 0 for size in shape):
                raise ValueError("input_shape must be the shape of one image without the batch axis, "
                                 f"e.g. (224, 224, 3), or a list of such shapes; got {input_shape!r}")
            shapes.append(tuple(int(size) for size in shape))
        return shapes
    if not model.built or not _has_inputs(model):
        raise ValueError(f"model {model.name!r} is not built: pass input_shape, e.g. (224, 224, 3)")
    shapes = [tuple(tensor.shape[1:]) for tensor in model.inputs]
    if any(size is None for shape in shapes for size in shape):
        raise ValueError(f"model {model.name!r} has input shape(s) {shapes} with unknown sizes: "
                         "pass input_shape, e.g. (224, 224, 3)")
    return shapes


def _has_inputs(model):
    try:
        return bool(model.inputs)
    except (AttributeError, ValueError):
        return False


def _walk_model(model, inputs, prefix, seen, rows):
    """Record every layer call of ``model`` applied to the KerasTensors ``inputs``; return its outputs."""
    import keras

    def record(operation, *args, **kwargs):
        tensors = [value for value in keras.tree.flatten((args, kwargs)) if isinstance(value, keras.KerasTensor)]
        if _is_graph_model(operation):
            return _walk_model(operation, tensors, prefix + operation.name + "/", seen, rows)
        outputs = operation.compute_output_spec(*args, **kwargs)
        _record_layer(operation, tensors, keras.tree.flatten(outputs), prefix, seen, rows)
        return outputs

    if isinstance(model, keras.Sequential):
        # A Sequential is a chain: walking its layers needs no private attributes.
        outputs = inputs[0] if len(inputs) == 1 else inputs
        for layer in model.layers:
            outputs = record(layer, outputs)
        return outputs
    # Functional._run_through_graph visits the nodes in dependency order and hands each call's
    # arguments to call_fn; passing our own KerasTensors gives every layer's shapes at this input size.
    return model._run_through_graph(inputs, operation_fn=lambda operation: operation, call_fn=record)


def _is_graph_model(operation):
    """True for Sequential and Functional models, whose layers can be walked one by one."""
    import keras

    return isinstance(operation, keras.Sequential) or (
        isinstance(operation, keras.Model) and hasattr(operation, "_run_through_graph"))


def _record_layer(layer, inputs, outputs, prefix, seen, rows):
    """Append one row for one call of ``layer``; a shared layer's parameters count at its first call."""
    first_call = id(layer) not in seen
    seen.add(id(layer))
    params = layer.count_params() if first_call and getattr(layer, "weights", None) else 0
    output_shapes = [tuple(tensor.shape[1:]) for tensor in outputs]
    rows.append({
        "name": prefix + layer.name + ("" if first_call else " (shared)"),
        "type": type(layer).__name__,
        "output_shape": output_shapes[0] if len(output_shapes) == 1 else tuple(output_shapes),
        "params": int(params),
        "macs": int(_layer_macs(layer, [t.shape for t in inputs], [t.shape for t in outputs], prefix)),
    })


def _elements(shape, name):
    """Elements of one sample of ``shape`` (batch axis dropped); unknown sizes cannot be counted."""
    if any(size is None for size in shape[1:]):
        raise ValueError(f"layer {name!r} has an unknown size in shape {tuple(shape)}: pass input_shape to count()")
    return math.prod(shape[1:])


def _layer_macs(layer, input_shapes, output_shapes, prefix=""):
    """MACs of one call of a leaf layer, from its configuration, weights and input/output shapes."""
    from keras import layers

    name = prefix + layer.name
    kind = type(layer).__name__
    weights = getattr(layer, "weights", [])
    if isinstance(layer, layers.TimeDistributed):
        steps = input_shapes[0][1]
        inner_in = [(None,) + tuple(shape[2:]) for shape in input_shapes]
        inner_out = [(None,) + tuple(shape[2:]) for shape in output_shapes]
        return steps * _layer_macs(layer.layer, inner_in, inner_out, name + "/")
    if isinstance(layer, layers.SeparableConv1D | layers.SeparableConv2D):
        # The depthwise stage has the strides, so it runs at the output positions, as the 1x1 does.
        positions = _elements(output_shapes[0], name) // layer.filters
        return positions * (math.prod(layer.depthwise_kernel.shape) + math.prod(layer.pointwise_kernel.shape))
    if isinstance(layer, layers.DepthwiseConv1D | layers.DepthwiseConv2D):
        return _elements(output_shapes[0], name) * math.prod(layer.kernel_size)
    if isinstance(layer, layers.Conv1DTranspose | layers.Conv2DTranspose | layers.Conv3DTranspose):
        # Kernel shape (k..., C_out, C_in): every input element is spread over k... x C_out outputs.
        kernel_shape = layer.kernel.shape
        return _elements(input_shapes[0], name) * math.prod(kernel_shape) // kernel_shape[-1]
    if isinstance(layer, layers.Conv1D | layers.Conv2D | layers.Conv3D):
        # Kernel shape (k..., C_in / groups, C_out): one output element costs one kernel's worth.
        return _elements(output_shapes[0], name) * math.prod(layer.kernel.shape[:-1])
    if isinstance(layer, layers.Dense):
        kernel_shape = layer.kernel.shape
        positions = _elements(input_shapes[0], name) // kernel_shape[0]
        return positions * kernel_shape[0] * kernel_shape[1]
    if not weights or kind in ZERO_MAC_WEIGHTED_LAYERS:
        return 0
    raise ValueError(f"layer {name!r} of type {kind} has weights but the cost counter does not know "
                     f"how to count it; known types with weights: Conv1D/2D/3D (and Transpose), "
                     f"DepthwiseConv1D/2D, SeparableConv1D/2D, Dense, TimeDistributed, "
                     f"{', '.join(ZERO_MAC_WEIGHTED_LAYERS)}")
