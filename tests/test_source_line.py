"""The source line of an op made inside a built-in Keras layer or loss is the
user's line that created the layer (or the compile that passed the loss),
not the model.fit line, which stays the call site: the innermost frame of
the stack. Found by reading the user's files on the stack (creation.py),
checked here on its own and on real training."""

import textwrap

import keras
import numpy as np
import pytest
from keras import layers

import tb_nantrace as nantrace
from tb_nantrace.recorder import creation

MODEL_FILE = textwrap.dedent('''\
    import keras
    from keras import layers

    def build():
        hidden = layers.Dense(8, name="hidden")
        model = keras.Sequential([hidden, layers.Dense(1, name="out"), layers.Dropout(0.1)])
        model.compile(loss="mse")
        return model

    def other():
        model = build()
        model.compile(loss=keras.losses.Huber())
        model.fit(x, y)
        model.compile(loss="mae")
    ''')
CALL_SITE_LINE = 13  # model.fit(x, y)

# (id, owner, line found or None)
CASES = [
    ("layer_by_its_name", creation.Owner("layer", "Dense", "out"), 6),
    ("layer_created_before_the_model", creation.Owner("layer", "Dense", "hidden"), 5),
    ("only_call_to_its_class", creation.Owner("layer", "Dropout", "dropout_3"), 6),
    ("unnamed_of_a_class_called_twice", creation.Owner("layer", "Dense", "dense_7"), None),
    ("class_never_called", creation.Owner("layer", "Conv2D", "conv"), None),
    ("loss_instance_the_user_made", creation.Owner("loss", "Huber", "huber_loss"), 12),
    ("loss_compile_made_from_a_string", creation.Owner("loss", "LossFunctionWrapper",
                                                       "mean_squared_error"), 12),
]


@pytest.mark.parametrize("owner, line", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_the_line_that_made_a_layer_or_passed_a_loss(tmp_path, owner, line):
    path = tmp_path / "model.py"
    path.write_text(MODEL_FILE)
    found = creation.find(owner, [str(path)], (str(path), CALL_SITE_LINE))
    assert (found.line if found else None) == line
    if found:
        assert found.function in ("build", "other")


def test_a_compile_loss_is_the_compile_nearest_before_the_call_site_else_the_only_one(tmp_path):
    owner = creation.Owner("loss", "LossFunctionWrapper", "mean_squared_error")
    path = tmp_path / "model.py"
    path.write_text(MODEL_FILE)
    elsewhere = tmp_path / "train.py"
    elsewhere.write_text("import model\nmodel.other()\n")
    # Called from a file without compile: model.py has three, none is "the" one.
    assert creation.find(owner, [str(elsewhere), str(path)], (str(elsewhere), 2)) is None
    path.write_text("def build(model):\n    model.compile(loss='mse')\n")
    assert creation.find(owner, [str(elsewhere), str(path)], (str(elsewhere), 2)).line == 2


def test_unreadable_files_give_no_line(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("def f(:\n    layers.Dense(1, name='out')\n")
    owner = creation.Owner("layer", "Dense", "out")
    assert creation.find(owner, [str(broken), str(tmp_path / "missing.py")], (str(broken), 1)) is None


# Real training: a Dense layer overflows float32 (inputs of 1e38 times a kernel
# of ones sum past the max), in a model defined apart from its fit.

def overflowing_data():
    x = np.full((32, 4), 1e38, dtype="float32")  # 4 x 1e38 > float32 max
    return x, np.zeros((32, 1), dtype="float32")


def sequential_model():
    model = keras.Sequential([
        keras.Input((4,)),
        layers.Dense(4, kernel_initializer="ones", name="wide"),  # CREATES_WIDE
        layers.Dense(1, kernel_initializer="ones", name="head"),
    ])
    model.compile(optimizer="sgd", loss="mse")
    return model


def functional_model():
    inputs = keras.Input((4,))
    squash = layers.Dense(4, kernel_initializer="ones", name="squash")  # CREATES_SQUASH
    hidden = squash(inputs)
    outputs = layers.Dense(1, kernel_initializer="ones", name="last")(hidden)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="sgd", loss="mse")
    return model


def line_of(marker):
    with open(__file__) as f:
        lines = [n for n, line in enumerate(f, 1) if line.rstrip().endswith(f"# {marker}")]
    (line,) = lines
    return line


@pytest.mark.parametrize("build, layer, marker", [
    (sequential_model, "wide", "CREATES_WIDE"),
    (functional_model, "squash", "CREATES_SQUASH"),
], ids=["sequential", "functional"])
@pytest.mark.parametrize("mode", ["guard", "exact"])
def test_an_overflow_inside_a_dense_layer_points_to_the_line_that_created_it(tmp_path, build, layer,
                                                                              marker, mode):
    keras.utils.set_random_seed(0)
    model = build()
    x, y = overflowing_data()
    with nantrace.record(str(tmp_path), mode=mode) as recording:
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)  # CALL_SITE
    incident = recording.incidents[0]
    assert incident["layer"] == layer and incident["cause"]["code"] == "float_overflow"
    source, call_site = incident["source"], incident["stack"][-1]
    assert source["file"].endswith("test_source_line.py") and source["line"] == line_of(marker)
    assert f'name="{layer}"' in source["code"]
    assert any(f'name="{layer}"' in line for line in source["context"])
    assert call_site["line"] == line_of("CALL_SITE") and "model.fit(" in call_site["code"]


def test_text_report_shows_the_call_site_beside_the_line_that_made_the_layer():
    from tb_nantrace.report import text

    def frame(line, code):
        return {"file": "train.py", "line": line, "function": "main", "code": code}

    incident = {"index": 0, "step": 1, "phase": "forward", "kind": "inf", "op": {"type": "Exp", "name": None},
                "layer": "rate", "source": frame(12, 'layers.Dense(1, activation="exponential", name="rate"),'),
                "stack": [frame(30, "model.fit(x, y)")], "cause": {"code": "exp_overflow", "summary": "s"}}
    run = {"run": "r", "status": "incident", "steps": 2, "incidents": [incident], "warnings": [], "info": None}
    out = text.report_text("logs", [run])
    assert 'at train.py:12 in main\n         layers.Dense(1, activation="exponential", name="rate"),' in out
    assert "called from train.py:30: model.fit(x, y)" in out
    incident["stack"] = [incident["source"]]
    assert "called from" not in text.report_text("logs", [run])
