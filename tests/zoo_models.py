"""The model zoo: real architectures nantrace did not write, each built small
and seeded, shared by tests/test_model_zoo.py and benchmarks/zoo.py.

A `Case` builds a compiled model (`build()`, seeded: two calls give the same
weights) and the keyword arguments of its `fit` (`fit_kwargs()`, seeded
synthetic data). `inject_fault(model, case)` makes the case's `fault_layer`
(a layer deep inside the model, possibly inside a nested model or a
keras-hub backbone) overflow from training step `case.fault_step` on: its
output is multiplied by `exp(100)` (inf in float32) once the optimizer's
step counter reaches that step, so the first non-finite op is an `Exp` in
the forward pass of that layer, at that step.

`CASES` are the small configurations the tests run; `BENCH_CASES` adds the
larger ones (more steps, bigger inputs) that only the benchmark runs.
"""

import dataclasses
import math
from typing import Callable, Optional

import keras
import numpy as np
from keras import layers, ops

FAULT_OFFSET = 100.0  # exp(100) > float32 max (exp(88.7))


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], keras.Model]  # compiled, seeded
    fit_kwargs: Callable[[], dict]  # x, y, batch_size, ...: seeded data
    steps: int  # training steps of one epoch with fit_kwargs()
    fault_layer: str  # the layer inject_fault breaks
    fault_step: int = 1
    family: str = ""  # what it exercises, for the benchmark table
    needs: Optional[str] = None  # a module it imports (pytest.importorskip)


def _seeded(build):
    def wrapped():
        keras.utils.set_random_seed(0)
        return build()

    return wrapped


def _compiled(model, loss="sparse_categorical_crossentropy", optimizer=None, **compile_kwargs):
    model.compile(optimizer=optimizer or keras.optimizers.Adam(1e-3), loss=loss, **compile_kwargs)
    return model


def _rng():
    return np.random.default_rng(0)


def _arrays(x, y, batch, **extra):
    return dict(x=x, y=y, batch_size=batch, **extra)


# Fault injection ---------------------------------------------------------------------------


def find_layer(model, name):
    """The layer called `name` anywhere in `model` (nested models included),
    through the public `layers` of every model on the way."""
    stack = [model]
    while stack:
        current = stack.pop()
        for layer in getattr(current, "layers", []):
            if layer.name == name:
                return layer
            stack.append(layer)
        for attr in ("layer", "forward_layer", "backward_layer"):  # wrappers
            inner = getattr(current, attr, None)
            if isinstance(inner, keras.layers.Layer):
                if inner.name == name:
                    return inner
                stack.append(inner)
    raise KeyError(f"no layer {name!r} in {model.name}")


def inject_fault(model, case):
    """From step `case.fault_step` on, `case.fault_layer`'s output is
    multiplied by exp(100): an Exp overflowing float32 in that layer's forward
    pass. The step is read from the compiled optimizer's counter."""
    layer = find_layer(model, case.fault_layer)
    iterations = model.optimizer.iterations
    fault_step = case.fault_step
    original_call = layer.call

    def call(*args, **kwargs):
        outputs = original_call(*args, **kwargs)
        offset = ops.where(ops.greater_equal(iterations, fault_step), FAULT_OFFSET, 0.0)
        scale = ops.exp(ops.cast(offset, "float32"))

        def scaled(tensor):
            if not keras.backend.is_float_dtype(tensor.dtype):
                return tensor
            return tensor * ops.cast(scale, tensor.dtype)

        return keras.tree.map_structure(scaled, outputs)

    layer.call = call
    return layer


# keras.applications (weights=None, 32x32 inputs) ---------------------------------------------


def _application(constructor, size=32, classes=3, batch=2, steps=2, **kwargs):
    def build():
        model = constructor(weights=None, input_shape=(size, size, 3), classes=classes, **kwargs)
        return _compiled(model)

    def fit_kwargs():
        rng = _rng()
        n = batch * steps
        x = rng.uniform(0, 255, size=(n, size, size, 3)).astype("float32")
        return _arrays(x, np.arange(n) % classes, batch)

    return build, fit_kwargs


def _application_case(name, constructor, fault_layer, family, **kwargs):
    build, fit_kwargs = _application(constructor, **kwargs)
    return Case(name, _seeded(build), fit_kwargs, kwargs.get("steps", 2), fault_layer,
                family=family)


# The same families' own code with fewer blocks (the tests' sizes; the
# benchmark also runs the published configurations). keras.applications
# exports only the fixed sizes, so the family constructors come from keras.src.


def _mini_resnet(**kwargs):
    from keras.src.applications import resnet

    def stack_fn(x):
        x = resnet.stack_residual_blocks_v1(x, 8, 1, stride1=1, name="conv2")
        return resnet.stack_residual_blocks_v1(x, 16, 2, name="conv3")

    return resnet.ResNet(stack_fn, preact=False, use_bias=True, name="resnet_mini", **kwargs)


def _mini_densenet(**kwargs):
    from keras.src.applications import densenet

    return densenet.DenseNet([1, 1, 1, 1], name="densenet_mini", **kwargs)


def _mini_efficientnet(**kwargs):
    from keras.src.applications import efficientnet

    blocks = [dict(block, repeats=1) for block in efficientnet.DEFAULT_BLOCKS_ARGS[:3]]
    return efficientnet.EfficientNet(0.5, 1.0, 32, blocks_args=blocks, name="efficientnet_mini",
                                     **kwargs)


def _mini_mobilenet_v3(**kwargs):
    from keras.src.applications import mobilenet_v3 as m

    def stack_fn(x, kernel, activation, se_ratio):
        x = m._inverted_res_block(x, 1, 16, 3, 2, se_ratio, m.relu, 0)
        x = m._inverted_res_block(x, 72.0 / 16, 24, 3, 2, None, m.relu, 1)
        x = m._inverted_res_block(x, 88.0 / 24, 24, 3, 1, None, m.relu, 2)
        return m._inverted_res_block(x, 4, 40, kernel, 2, se_ratio, activation, 3)

    return m.MobileNetV3(stack_fn, 128, kwargs.pop("input_shape"), 1.0, "small", False, True,
                         kwargs.pop("weights"), None, kwargs.pop("classes"),
                         name="mobilenet_v3_mini", **kwargs)


def _mini_convnext(**kwargs):
    from keras.src.applications import convnext

    return convnext.ConvNeXt(depths=[1, 1, 1, 1], projection_dims=[8, 16, 32, 64], default_size=32,
                             name="convnext_mini", **kwargs)


A = keras.applications

APPLICATIONS = [
    _application_case("resnet_mini", _mini_resnet, "conv3_block2_2_relu",
                      "keras.applications ResNet (v1 blocks, 1+2)"),
    _application_case("mobilenet_v3_mini", _mini_mobilenet_v3, "expanded_conv_2_add",
                      "keras.applications MobileNetV3 (4 blocks, SE, hard-swish)"),
    _application_case("efficientnet_mini", _mini_efficientnet, "block3a_expand_activation",
                      "keras.applications EfficientNet (3 blocks)"),
    _application_case("densenet_mini", _mini_densenet, "conv3_block1_1_relu",
                      "keras.applications DenseNet (blocks 1,1,1,1)"),
    _application_case("convnext_mini", _mini_convnext, "convnext_mini_stage_2_block_0_layer_scale",
                      "keras.applications ConvNeXt (depths 1,1,1,1)"),
]

FULL_APPLICATIONS = [
    _application_case("mobilenet_v3_small", A.MobileNetV3Small, "expanded_conv_5_add",
                      "keras.applications MobileNetV3Small"),
    _application_case("resnet50", A.ResNet50, "conv4_block1_2_relu", "keras.applications ResNet50"),
    _application_case("efficientnet_b0", A.EfficientNetB0, "block5a_expand_activation",
                      "keras.applications EfficientNetB0"),
    _application_case("densenet121", A.DenseNet121, "conv4_block11_1_relu",
                      "keras.applications DenseNet121"),
    _application_case("convnext_tiny", A.ConvNeXtTiny, "convnext_tiny_stage_2_block_2_layer_scale",
                      "keras.applications ConvNeXtTiny"),
]


# keras-hub backbones and task models from a small config, random weights --------------------

VOCAB, SEQ = 64, 8


def _tokens(batch, steps):
    rng = _rng()
    n = batch * steps
    ids = rng.integers(1, VOCAB, size=(n, SEQ)).astype("int32")
    lengths = rng.integers(SEQ // 2, SEQ + 1, size=(n,))
    mask = np.arange(SEQ)[None, :] < lengths[:, None]
    return np.where(mask, ids, 0).astype("int32"), mask


def _bert():
    import keras_hub

    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=VOCAB, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32,
        max_sequence_length=SEQ)
    model = keras_hub.models.BertTextClassifier(backbone, num_classes=2, preprocessor=None)
    return _compiled(model, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))


def _bert_data(batch=4, steps=2):
    ids, mask = _tokens(batch, steps)
    x = {"token_ids": ids, "segment_ids": np.zeros_like(ids), "padding_mask": mask}
    return _arrays(x, (ids[:, 0] % 2).astype("int32"), batch)


def _causal_lm(kind):
    def build():
        import keras_hub

        if kind == "gpt2":
            backbone = keras_hub.models.GPT2Backbone(
                vocabulary_size=VOCAB, num_layers=2, num_heads=2, hidden_dim=16, intermediate_dim=32,
                max_sequence_length=SEQ)
            model = keras_hub.models.GPT2CausalLM(backbone, preprocessor=None)
        else:
            backbone = keras_hub.models.LlamaBackbone(
                vocabulary_size=VOCAB, num_layers=2, num_query_heads=4, num_key_value_heads=2,
                hidden_dim=16, intermediate_dim=32)
            model = keras_hub.models.LlamaCausalLM(backbone, preprocessor=None)
        return _compiled(model, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                         weighted_metrics=[])

    return build


def _causal_lm_data(batch=4, steps=2):
    ids, mask = _tokens(batch, steps + 0)
    labels = np.concatenate([ids[:, 1:], np.zeros_like(ids[:, :1])], axis=1)
    weights = np.concatenate([mask[:, 1:], np.zeros_like(mask[:, :1])], axis=1).astype("float32")
    return _arrays({"token_ids": ids, "padding_mask": mask}, labels, batch, sample_weight=weights)


KERAS_HUB = [
    Case("keras_hub_bert_classifier", _seeded(_bert), _bert_data, 2, "transformer_layer_1",
         family="keras-hub BERT backbone + classifier", needs="keras_hub"),
    Case("keras_hub_gpt2_causal_lm", _seeded(_causal_lm("gpt2")), _causal_lm_data, 2,
         "transformer_layer_1", family="keras-hub GPT-2 backbone + causal LM", needs="keras_hub"),
    Case("keras_hub_llama_causal_lm", _seeded(_causal_lm("llama")), _causal_lm_data, 2,
         "transformer_layer_1", family="keras-hub Llama backbone + causal LM", needs="keras_hub"),
]


# Keras layers of every kind, small models -------------------------------------------------

BATCH, STEPS = 8, 3


def _regression(x, batch=BATCH, **extra):
    y = _rng().normal(size=(len(x[0]) if isinstance(x, list) else len(x), 1)).astype("float32")
    return _arrays(x, y, batch, **extra)


def _sequences(features=3, length=6):
    x = _rng().normal(size=(BATCH * STEPS, length, features)).astype("float32")
    x[::3, -2:] = 0.0  # padded tails, for the Masking cases
    return x


def _token_ids(length=6, vocab=20):
    ids = _rng().integers(1, vocab, size=(BATCH * STEPS, length))
    ids[::2, -2:] = 0  # padding, masked by Embedding(mask_zero=True)
    return ids.astype("int32")


def _head(features, model_inputs, name=None, loss="mse"):
    model = keras.Model(model_inputs, layers.Dense(1, name="out")(features), name=name)
    return _compiled(model, loss=loss)


def _rnn(kind):
    def build():
        sequence = keras.Input((6, 3))
        if kind == "lstm":
            features = layers.LSTM(4, name="lstm")(sequence)
        elif kind == "stacked_gru":
            features = layers.GRU(4, return_sequences=True, name="gru_1")(sequence)
            features = layers.GRU(4, name="gru_2")(features)
        elif kind == "bidirectional_lstm":
            features = layers.Bidirectional(layers.LSTM(3), name="bidirectional")(sequence)
        elif kind == "masked_simple_rnn":  # Masking -> SimpleRNN(return_sequences) -> TimeDistributed
            masked = layers.Masking(name="masking")(sequence)
            steps = layers.SimpleRNN(5, return_sequences=True, name="simple_rnn")(masked)
            steps = layers.TimeDistributed(layers.Dense(3), name="time_distributed")(steps)
            features = layers.LSTM(4, name="lstm")(steps)
        return _head(features, sequence)

    return build


def _embedded_rnn():
    ids = keras.Input((6,), dtype="int32")
    embedded = layers.Embedding(20, 4, mask_zero=True, name="embedding")(ids)
    steps = layers.Bidirectional(layers.GRU(3, return_sequences=True), name="bidirectional_gru")(embedded)
    features = layers.LSTM(4, name="lstm")(steps)
    return _head(features, ids)


def _attention():
    ids = keras.Input((6,), dtype="int32")
    embedded = layers.Embedding(20, 8, mask_zero=True, name="embedding")(ids)
    attended = layers.MultiHeadAttention(2, 4, name="attention")(embedded, embedded,
                                                                use_causal_mask=True)
    normed = layers.LayerNormalization(name="layer_norm")(layers.Add()([embedded, attended]))
    return _head(layers.GlobalAveragePooling1D()(normed), ids)


def _attention_explicit_mask():
    ids, mask = keras.Input((6,), dtype="int32"), keras.Input((6, 6), dtype="bool")
    embedded = layers.Embedding(20, 8, name="embedding")(ids)
    attended = layers.MultiHeadAttention(2, 4, dropout=0.1, name="attention")(
        embedded, embedded, attention_mask=mask)
    return _head(layers.GlobalAveragePooling1D()(attended), [ids, mask])


def _attention_mask_data():
    ids = _token_ids()
    valid = ids != 0
    mask = valid[:, :, None] & valid[:, None, :]
    mask[:, np.arange(6), np.arange(6)] = True  # every query sees itself
    return _regression([ids, mask])


def _conv1d():
    x = keras.Input((16, 2))
    h = layers.Conv1D(6, 3, name="conv1d_a")(x)
    h = layers.BatchNormalization(name="batch_norm")(h)
    h = layers.ReLU(name="relu")(h)
    h = layers.Conv1D(6, 3, dilation_rate=2, name="conv1d_b")(h)
    return _head(layers.GlobalMaxPooling1D()(h), x)


def _conv3d():
    x = keras.Input((4, 8, 8, 1))
    h = layers.Conv3D(4, 3, padding="same", name="conv3d_a")(x)
    h = layers.LayerNormalization(name="layer_norm")(h)
    h = layers.Conv3D(4, 3, strides=2, activation="relu", name="conv3d_b")(h)
    h = layers.BatchNormalization(name="batch_norm")(h)
    return _head(layers.GlobalAveragePooling3D()(h), x)


def _preprocessing():
    x = keras.Input((12, 12, 3))
    h = layers.Rescaling(1 / 255.0, name="rescaling")(x)
    h = layers.Normalization(mean=[0.5, 0.4, 0.3], variance=[0.1, 0.1, 0.1], name="normalization")(h)
    h = layers.RandomFlip("horizontal", name="random_flip")(h)
    h = layers.RandomTranslation(0.1, 0.1, name="random_translation")(h)
    h = layers.Resizing(8, 8, name="resizing")(h)
    h = layers.Conv2D(4, 3, activation="relu", name="conv")(h)
    return _head(layers.Flatten()(h), x)


def _image_data(shape):
    return _regression(_rng().uniform(0, 255, size=(BATCH * STEPS, *shape)).astype("float32"))


class _Residual(keras.Model):
    """A subclassed model holding a Sequential that holds a functional model."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        inner_in = keras.Input((6,))
        inner = keras.Model(inner_in, layers.Dense(6, activation="tanh", name="innermost")(inner_in),
                            name="functional_inner")
        self.body = keras.Sequential([layers.Dense(6, name="dense_in"), inner,
                                      layers.LayerNormalization(name="norm")], name="sequential_mid")
        self.out = layers.Dense(1, name="out")

    def call(self, x):
        return self.out(x + self.body(x))


def _nested():
    model = _Residual(name="subclassed_outer")
    model(np.zeros((1, 6), "float32"))
    return _compiled(model, loss="mse")


class _OwnTrainStep(keras.Model):
    """A subclassed model whose train_step is the user's own (gradient clipping
    by global norm, its own loss tracker)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(8, activation="relu", name="hidden")
        self.scale = layers.Dense(8, name="scale")
        self.out = layers.Dense(1, name="out")
        self.tracker = keras.metrics.Mean(name="loss")

    def call(self, x):
        return self.out(self.scale(self.hidden(x)))

    def train_step(self, data):
        import tensorflow as tf

        x, y = data
        with tf.GradientTape() as tape:
            loss = ops.mean(ops.square(self(x, training=True) - y))
        gradients = tape.gradient(loss, self.trainable_variables)
        gradients, _ = tf.clip_by_global_norm(gradients, 1.0)
        self.optimizer.apply(gradients, self.trainable_variables)
        self.tracker.update_state(loss)
        return {"loss": self.tracker.result()}

    @property
    def metrics(self):
        return [self.tracker]


def _own_train_step():
    model = _OwnTrainStep(name="own_train_step")
    model(np.zeros((1, 6), "float32"))
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    return model


def _flat_data(**extra):
    return _regression(_rng().normal(size=(BATCH * STEPS, 6)).astype("float32"), **extra)


def _mixed_float16():
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        x = keras.Input((12, 12, 3))
        h = layers.Conv2D(8, 3, name="conv")(x)
        h = layers.BatchNormalization(name="batch_norm")(h)
        h = layers.Activation("gelu", name="gelu")(h)
        h = layers.Dense(8, activation="softmax", name="dense_softmax")(layers.Flatten()(h))
        out = layers.Activation("linear", dtype="float32", name="out")(layers.Dense(1)(h))
        return _compiled(keras.Model(x, out), loss="mse")
    finally:
        keras.config.set_dtype_policy(previous)


def _classifier():
    x = keras.Input((6,))
    h = layers.Dense(8, activation="relu", name="hidden")(x)
    h = layers.Dropout(0.2, name="dropout")(h)
    out = layers.Dense(3, activation="softmax", name="probabilities")(h)
    return _compiled(keras.Model(x, out), metrics=["accuracy"])


def _dataset_data():
    import tensorflow as tf

    rng = _rng()
    x = rng.normal(size=(BATCH * STEPS, 6)).astype("float32")
    y = rng.integers(0, 3, size=(BATCH * STEPS,)).astype("int32")
    train = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH).prefetch(1)
    validation = tf.data.Dataset.from_tensor_slices((x[:BATCH], y[:BATCH])).batch(4)
    return dict(x=train, validation_data=validation)


def _class_data(weights):
    rng = _rng()
    x = rng.normal(size=(BATCH * STEPS, 6)).astype("float32")
    y = rng.integers(0, 3, size=(BATCH * STEPS,)).astype("int32")
    if weights == "sample_weight":
        return _arrays(x, y, BATCH, sample_weight=rng.uniform(0, 2, size=(len(x),)).astype("float32"))
    return _arrays(x, y, BATCH, class_weight={0: 0.5, 1: 1.0, 2: 3.0})


def _case(name, build, fit_kwargs, fault_layer, family, steps=STEPS):
    return Case(name, _seeded(build), fit_kwargs, steps, fault_layer, family=family)


LAYERS = [
    _case("lstm", _rnn("lstm"), lambda: _regression(_sequences()), "lstm", "LSTM"),
    _case("stacked_gru", _rnn("stacked_gru"), lambda: _regression(_sequences()), "gru_1",
          "GRU(return_sequences) -> GRU"),
    _case("bidirectional_lstm", _rnn("bidirectional_lstm"), lambda: _regression(_sequences()),
          "bidirectional", "Bidirectional(LSTM)"),
    _case("masked_simple_rnn_time_distributed", _rnn("masked_simple_rnn"),
          lambda: _regression(_sequences()), "time_distributed",
          "Masking -> SimpleRNN(return_sequences) -> TimeDistributed(Dense) -> LSTM"),
    _case("embedding_mask_bidirectional_gru", _embedded_rnn, lambda: _regression(_token_ids()),
          "bidirectional_gru", "Embedding(mask_zero) -> Bidirectional(GRU, return_sequences) -> LSTM"),
    _case("attention_causal_padding_mask", _attention, lambda: _regression(_token_ids()),
          "attention", "MultiHeadAttention (causal + padding mask), LayerNormalization"),
    _case("attention_explicit_mask_dropout", _attention_explicit_mask, _attention_mask_data,
          "attention", "MultiHeadAttention(attention_mask=, dropout)"),
    _case("conv1d_batch_norm", _conv1d,
          lambda: _regression(_rng().normal(size=(BATCH * STEPS, 16, 2)).astype("float32")),
          "batch_norm", "Conv1D, BatchNormalization"),
    _case("conv3d_layer_norm", _conv3d,
          lambda: _regression(_rng().normal(size=(BATCH * STEPS, 4, 8, 8, 1)).astype("float32")),
          "layer_norm", "Conv3D, LayerNormalization, BatchNormalization"),
    _case("preprocessing_layers", _preprocessing, lambda: _image_data((12, 12, 3)), "resizing",
          "Rescaling, Normalization, RandomFlip, RandomTranslation, Resizing in the model"),
    _case("nested_subclassed_sequential_functional", _nested, _flat_data, "innermost",
          "subclassed > Sequential > functional"),
    _case("own_train_step", _own_train_step, _flat_data, "scale",
          "subclassed model overriding train_step"),
    _case("mixed_float16", _mixed_float16, lambda: _image_data((12, 12, 3)), "gelu",
          "mixed_float16 (LossScaleOptimizer)"),
    _case("tf_data_validation", _classifier, _dataset_data, "hidden",
          "tf.data input, validation_data, Dropout, metrics"),
    _case("sample_weight", _classifier, lambda: _class_data("sample_weight"), "hidden",
          "sample_weight"),
    _case("class_weight", _classifier, lambda: _class_data("class_weight"), "hidden",
          "class_weight"),
]

CASES = LAYERS + APPLICATIONS + KERAS_HUB
BENCH_CASES = CASES + FULL_APPLICATIONS
