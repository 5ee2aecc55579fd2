"""The floor: what the least guard costs per step, with no tool around it.

    python benchmarks/guard_cost.py                         # cnn, 15 rounds of 40 steps
    python benchmarks/guard_cost.py --config mlp_bn --rounds 30
    python benchmarks/guard_cost.py --config mlp_bn --xla     # every form compiled by XLA

nantrace's own cost (benchmarks/overhead.py) is compared with 1.05x of the
same run without it. This benchmark asks how much of that any in-graph
guard must spend on the overhead.py model: the train step written by hand
in several forms, each a step of its own built side by side in one process
and timed in interleaved rounds (a shuffled order per round, so a slow
phase of the machine hits every form alike; one process, so its speed
mode, which varies between processes on a VM, is shared):

  plain      the update as Keras does it;
  waits      the update waits for all_finite(gradients) (a control
             dependency): what ordering alone costs, since no update can
             start before the last gradient is known to be finite;
  cond       the update under cond(all_finite(gradients), apply, no-op):
             what Keras's LossScaleOptimizer does to skip a step (without
             its loss scaling), the least a guard that skips can do;
  checked    cond, then one reduction over the updated weights: also sees
             an update that finite gradients made non-finite (Adam with
             epsilon=0, an overflow), which cond alone lets through;
  held       what a guard that can also put such an update back needs: the
             update's variables (weights and Adam's slots) read before the
             update, the update applied, one reduction over the updated
             weights, and an If op that puts the held values back only when
             it is non-finite (nantrace's design, without its batch, loss
             and forward-state checks, its health row and its replay);
  held_select  the same, with the put-back as a select per variable
             outside any branch: how nantrace's guard puts back under XLA;
  keras      Keras's own train function, as model.fit traces it (its
             iterator, its loss tracker), called on a repeated batch;
  nantrace   the same function traced inside `nantrace.record()`: the
             recorded step with its guard, checks and health row, without
             the host work between steps (benchmarks/host_cost.py times
             that).

Prints the median ms/step of each form and its median ratio to plain (the
ratio within each round), and nantrace's median ratio to keras: its own
in-graph cost, to compare with the floors above. Healthy steps only: every
branch taken is apply.
With --xla every form is compiled with jit_compile=True (there an XLA
conditional that may write the state can copy it on every step, which is
why nantrace uses the `held_select` form under XLA).
"""

import argparse
import contextlib
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.overhead import CONFIGS, batch_size, build_model, prebuild_optimizer  # noqa: E402

FORMS = ("plain", "waits", "cond", "checked", "held", "held_select", "keras", "nantrace")


def _all_finite(tf, tensors):
    """One sum over everything: NaN or Inf anywhere makes it non-finite."""
    return tf.math.is_finite(tf.add_n([tf.reduce_sum(t) for t in tensors]))


def make_step(form, keras, tf, config, xla=False):
    model = build_model(keras, config)
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    weights = model.trainable_variables
    # Everything Adam's update writes: the weights, its slots, its counter.
    updated = list(weights) + [v for v in optimizer.variables
                               if all(v is not w for w in weights)]
    failed = tf.Variable(False, trainable=False)

    def mark_failed():  # what every failing branch does here
        return failed.assign(True).op

    def apply(grads):
        optimizer.apply(grads, weights)
        return tf.no_op()

    @tf.function(jit_compile=xla)
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, weights)
        if form == "plain":
            apply(grads)
        elif form == "waits":
            with tf.control_dependencies([_all_finite(tf, grads)]):
                apply([tf.identity(g) for g in grads])
        elif form in ("cond", "checked"):
            tf.cond(_all_finite(tf, grads), lambda: apply(grads), tf.no_op)
            if form == "checked":
                fine = _all_finite(tf, [tf.convert_to_tensor(w) for w in weights])
                tf.cond(fine, tf.no_op, mark_failed)
        else:  # held, held_select
            before = [tf.convert_to_tensor(v) for v in updated]
            apply(grads)
            fine = _all_finite(tf, [tf.convert_to_tensor(w) for w in weights])

            def put_back():
                for variable, value in zip(updated, before):
                    variable.assign(value)
                return mark_failed()

            if form == "held":
                tf.cond(fine, tf.no_op, put_back)
            else:
                for variable, value in zip(updated, before):
                    variable.assign(tf.where(fine, tf.convert_to_tensor(variable), value))
                tf.cond(fine, tf.no_op, mark_failed)
        return loss

    return step


def make_keras_step(recorded, keras, tf, config, x, y, xla=False):
    """Keras's own train function for `config` (traced inside
    `nantrace.record()` when `recorded`), as a step(x, y) that runs it once
    on a repeated batch (x and y are the batch already in its iterator)."""
    import tempfile

    import tb_nantrace as nantrace

    model = build_model(keras, config)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=xla,
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    traced = {}

    class KeepTrainFunction(keras.callbacks.Callback):
        # nantrace wraps Keras's function with its end of step (host work):
        # keep Keras's own, as traced inside the recording.
        def on_train_end(self, logs=None):
            function = self.model.train_function
            traced["function"] = getattr(function, "__wrapped__", function)

    if recorded:
        # Closed after the fit: its patches must not reach the other forms.
        # The traced step keeps what it uses, and a healthy step never
        # calls back into the recording.
        recording = nantrace.record(tempfile.mkdtemp(prefix="nantrace-guard-cost-"))
    else:
        prebuild_optimizer(model)  # as nantrace does: one trace, not two
        recording = contextlib.nullcontext()
    with recording:
        model.fit(x, y, batch_size=int(x.shape[0]), epochs=1, verbose=0,
                  callbacks=[KeepTrainFunction()])
    function = traced["function"]
    batches = iter(tf.data.Dataset.from_tensors((x, y)).repeat())
    return lambda x, y: function(batches)["loss"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", choices=CONFIGS, default="cnn")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=40, help="steps per form per round")
    parser.add_argument("--xla", action="store_true", help="compile every form with XLA")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    size = batch_size(args.config)
    x = tf.constant(rng.standard_normal((size, 28, 28, 1)).astype("float32"))
    y = tf.constant(rng.integers(0, 10, size).astype("int32"))
    steps = {}
    for form in FORMS:
        if form in ("keras", "nantrace"):
            steps[form] = make_keras_step(form == "nantrace", keras, tf, args.config, x, y,
                                          args.xla)
        else:
            steps[form] = make_step(form, keras, tf, args.config, args.xla)
        steps[form](x, y)  # traced now, outside any recording
        steps[form](x, y)
    times = {form: [] for form in FORMS}
    order = list(FORMS)
    shuffle = random.Random(0).shuffle
    for _ in range(args.rounds):
        shuffle(order)
        for form in order:
            step = steps[form]
            start = time.perf_counter()
            for _ in range(args.steps):
                loss = step(x, y)
            loss.numpy()
            times[form].append((time.perf_counter() - start) / args.steps * 1000.0)
    print(f"--config {args.config}{' --xla' if args.xla else ''}: "
          f"{args.rounds} rounds x {args.steps} steps, "
          f"TF {tf.__version__}, Keras {keras.__version__}")
    print("| form | ms/step (median) | ratio to plain (median of rounds) |")
    print("|---|---:|---:|")
    for form in FORMS:
        ratio = statistics.median(a / b for a, b in zip(times[form], times["plain"]))
        print(f"| {form} | {statistics.median(times[form]):.2f} | {ratio:.3f}x |")
    own = statistics.median(a / b for a, b in zip(times["nantrace"], times["keras"]))
    print(f"\nnantrace / keras (median of rounds): {own:.3f}x")


if __name__ == "__main__":
    main()
