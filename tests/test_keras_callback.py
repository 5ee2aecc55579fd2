"""Where Keras users already are: `callbacks=[nantrace.NanTrace(log_dir)]`
records a fit as `with nantrace.record()` does, and nantrace shares its run
with Keras' own TensorBoard callback (the NaN Trace tab's run is the Scalars
tab's run, and an incident's step is given on that callback's axis too).
Everything is read back through TensorBoard's own data provider."""

import inspect

import keras
import pytest
from tensorboard import context
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer

import tb_nantrace as nantrace
from demo import bce_saturation
from recorded import origin, read_back
from tb_nantrace.recorder import registry


def scalar_steps(logdir, run, tag):
    """Steps of a scalar written by Keras' TensorBoard callback, read by
    TensorBoard's data provider (--load_fast=false)."""
    multiplexer = plugin_event_multiplexer.EventMultiplexer()
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(logdir))
    found = provider.read_scalars(context.RequestContext(), experiment_id="",
                                  plugin_name="scalars", downsample=1000,
                                  run_tag_filter=provider_filter(run, tag))
    return [point.step for point in found.get(run, {}).get(tag, [])]


def provider_filter(run, tag):
    from tensorboard.data import provider

    return provider.RunTagFilter(runs=[run], tags=[tag])


def test_the_callback_records_the_same_incident_as_record_into_the_train_run(tmp_path):
    model, x, y, fit_kwargs = bce_saturation.build()
    with nantrace.record(str(tmp_path / "with_record")):
        model.fit(x, y, **fit_kwargs)

    model, x, y, fit_kwargs = bce_saturation.build()
    callback = nantrace.NanTrace(str(tmp_path / "with_callback"))
    model.fit(x, y, callbacks=[callback], **fit_kwargs)

    assert registry.current() is None  # the callback's recording ended with the fit
    by_record = read_back(tmp_path / "with_record")["."]
    by_callback = read_back(tmp_path / "with_callback")["train"]
    assert origin(by_callback) == origin(by_record)
    assert by_callback["incidents"][0]["cause"]["code"] == by_record["incidents"][0]["cause"]["code"]
    assert [i["step"] for i in callback.incidents] == [by_record["incidents"][0]["step"]]
    assert model.__dict__.get("train_step") is None  # the model is left as it was


def test_the_callback_raises_like_record_and_still_closes_its_recording(tmp_path):
    model, x, y, fit_kwargs = bce_saturation.build()
    with pytest.raises(nantrace.NonFiniteError) as raised:
        model.fit(x, y, callbacks=[nantrace.NanTrace(str(tmp_path), on_nan="raise")],
                  **fit_kwargs)
    assert registry.current() is None
    assert raised.value.incident["step"] == bce_saturation.EXPECTED["step"]
    [run] = read_back(tmp_path).values()
    assert run["run"] == "train" and run["incidents"][0]["step"] == bce_saturation.EXPECTED["step"]


def test_the_callback_takes_every_option_of_record_that_applies_to_fit():
    options = set(inspect.signature(nantrace.record).parameters) - {"logdir", "optimizer"}
    parameters = inspect.signature(nantrace.NanTrace).parameters
    assert options <= set(parameters)
    assert all(parameters[name].kind is inspect.Parameter.KEYWORD_ONLY for name in options)
    assert "custom training loops" in inspect.getdoc(inspect.getmodule(nantrace.NanTrace))


@pytest.mark.parametrize("update_freq", ["epoch", 1], ids=["per-epoch", "per-batch"])
def test_with_kerass_tensorboard_callback_nantrace_records_into_its_train_run_on_its_step_axis(
        tmp_path, update_freq):
    model, x, y, fit_kwargs = bce_saturation.build()
    fit_kwargs = dict(fit_kwargs, epochs=3)
    board = keras.callbacks.TensorBoard(str(tmp_path), update_freq=update_freq)
    with nantrace.record(str(tmp_path)) as recording:
        model.fit(x, y, callbacks=[board], **fit_kwargs)

    runs = read_back(tmp_path)
    assert set(runs) == {"train"}  # nantrace's run is the callback's training run
    [incident] = runs["train"]["incidents"]
    assert incident["step"] == recording.incidents[0]["step"]
    placed = incident["tensorboard_step"]
    if update_freq == "epoch":
        steps_per_epoch = -(-len(x) // fit_kwargs["batch_size"])
        assert placed == {"step": incident["step"] // steps_per_epoch, "unit": "epoch"}
        assert placed["step"] in scalar_steps(tmp_path, "train", "epoch_loss")
    else:
        assert placed == {"step": incident["step"] + 1, "unit": "batch"}
        assert placed["step"] in scalar_steps(tmp_path, "train", "batch_loss")
