"""The guarded Keras train step: what `model.fit` runs inside `record()`.

It wraps the model's own train_step (never changing what it computes): it
checks the batch and the loss, hands the step to the optimizer guard
through a StepContext, collects the health row's measurements from the
layers it calls, and writes that row after the step.
"""

import functools

import keras
import tensorflow as tf

from tb_nantrace.recorder import compat, failsafe, guard, instrument, registry

_originals = {}


def install():
    _originals["layer_call"] = keras.layers.Layer.__call__
    keras.layers.Layer.__call__ = _observed_layer_call


def uninstall():
    keras.layers.Layer.__call__ = _originals.pop("layer_call")


def _observed_layer_call(self, *args, **kwargs):
    with failsafe.users_code():
        outputs = _originals["layer_call"](self, *args, **kwargs)
    recording = registry.current()
    if recording is not None:
        with failsafe.fail_open(recording.note, "the health timeline (a layer's activations)"):
            _observe_call(recording, self, outputs)
    return outputs


def _observe_call(recording, layer, outputs):
    context = recording.scope.step_context()
    if context is None or context.probe is None or tf.executing_eagerly():
        return
    if not _in_step_graph(outputs, context):
        # A call inside another graph (an RNN cell in its while-loop body,
        # Keras building a nested model in a scratch graph): its tensors
        # cannot be used in the step's graph. The enclosing layer (the RNN
        # itself) is measured where its output is.
        recording.note(f"health timeline: layer {layer.name!r} is not measured where it "
                       "runs inside another graph (a loop body or a nested build)")
        return
    context.measure(functools.partial(context.probe.observe_activation, layer=layer, outputs=outputs))


def _in_step_graph(outputs, context):
    step_graph = context.step.graph
    return all(t.graph is step_graph for t in tf.nest.flatten(outputs) if isinstance(t, tf.Tensor))


def guarded_train_step(recording, model, original_train_step):
    recording.replayer.register_step_function(model, original_train_step)
    scope = recording.scope

    def train_step(data):
        if tf.executing_eagerly():  # run_eagerly=True: every op is checked
            with scope.eager_keras_step():
                return original_train_step(data)
        if instrument.in_replica():
            # Replicas: every op is checked (exact) and the update is guarded
            # across replicas; no state snapshot, health row or replay.
            recording.note("tf.distribute: steps are checked op by op (exact mode) on every replica")
            with instrument.uninstrumented():
                step = tf.cast(tf.convert_to_tensor(model.optimizer.iterations), tf.int64)
            with scope.tracing_step(guard.StepContext(step=step, batch_leaves=[], owner=model)):
                _check_batch(recording, data)
                return original_train_step(data)
        with failsafe.fail_open(recording.note, "the guarded train step") as setup:
            context = _step_context(recording, model, data)
        if setup.failed:
            with scope.unguarded():
                return original_train_step(data)  # traced as without nantrace
        with scope.tracing_step(context):
            with failsafe.fail_open(recording.note, "the batch check"):
                _check_batch(recording, data)
            with failsafe.users_code():
                outputs = original_train_step(data)
        with failsafe.fail_open(recording.note, "the step's health row and guard"):
            guard.finish_step(recording.replayer, context, outputs)
        return outputs

    return train_step


def _step_context(recording, model, data):
    """Trace time: what the guard, the health row and a replay need of this step."""
    restorable = list(model.non_trainable_variables) + list(model.metrics_variables)
    with instrument.uninstrumented():
        step = tf.cast(tf.convert_to_tensor(model.optimizer.iterations), tf.int64)
        saved = guard.snapshot(restorable)
    monitor = recording.timelines.monitor(model)
    context = guard.StepContext(
        step=step,
        batch_leaves=[t for t in tf.nest.flatten(data) if isinstance(t, tf.Tensor)],
        batch_structure=data,
        owner=model,
        probe=monitor.probe if monitor is not None else None,
        restorable=restorable,
        saved=saved,
        alarm=recording.state.alarm(model, create=False),
    )
    if context.alarm is not None:
        context.capture_index = context.alarm.register(context)
    return context


def checked_loss(recording, compute_loss):
    """The model's loss method, plus a finiteness check of the loss (and the
    loss column of the health row)."""

    def checked(*args, **kwargs):
        with failsafe.users_code():
            loss = compute_loss(*args, **kwargs)
        context = recording.scope.step_context()
        if context is None or tf.executing_eagerly():
            return loss
        with failsafe.fail_open(recording.note, "the loss check"):
            with instrument.uninstrumented():
                context.checked.append(loss)
                if context.probe is not None:
                    context.measure(functools.partial(context.probe.put, metric="loss", layer="",
                                                      tensor=loss), every_step=True)
        return loss

    return checked


def _check_batch(recording, data):
    """NaN/Inf already in the batch: phase "input", with row and column.

    Guard mode adds the batch to the step's verdict, and the host finds the
    bad tensor in the kept batch; exact mode (and tf.distribute) check each
    tensor in the graph, as every other op is."""
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    context = recording.scope.step_context()
    features = [t for t in tf.nest.flatten(x) if isinstance(t, tf.Tensor) and t.dtype.is_floating]
    if context.probe is not None and features:
        context.measure(functools.partial(context.probe.observe_inputs, x=features[0]))
    recording.op_callback.forget_placeholders(tf.compat.v1.get_default_graph())
    in_graph = recording.scope.checks_graph_ops()
    checked = []
    for label, part in (("x", x), ("y", y), ("sample_weight", sample_weight)):
        flat = tf.nest.flatten(part)
        for i, tensor in enumerate(flat):
            if not isinstance(tensor, tf.Tensor) or not tensor.dtype.is_floating:
                continue
            name = label if len(flat) == 1 else f"{label}[{i}]"
            with instrument.uninstrumented():
                site = recording.sites.add_input(name, tensor)
                if in_graph:
                    recording.op_callback.emit_check(site, [tensor], [], [tensor])
                    continue
            leaf = next((j for j, t in enumerate(context.batch_leaves) if t is tensor), None)
            if leaf is not None:
                context.input_sites.append((leaf, site))
                checked.append(tensor)
    context.checked.extend(checked)


def build_optimizer_before_tracing(model):
    """Create the optimizer's variables now, as Keras itself does under a
    distribution strategy (`_symbolic_build`). Otherwise Keras creates them
    inside the first trace of the train step, and a tf.function that
    creates variables is traced a second time: with them built, it is traced
    once. Skipped while the model's own variables do not exist yet."""
    optimizer = model.optimizer
    if optimizer is None or optimizer.built or compat.distribute_strategy(model) is not None:
        return
    if not all(layer.built for layer in compat.all_layers(model)) or not model.trainable_variables:
        return
    with instrument.uninstrumented():
        optimizer.build(model.trainable_variables)
