"""What gating the optimizer update costs per step, with no tool around it.

    python benchmarks/guard_cost.py                  # 15 interleaved rounds of 40 steps

The overhead.py model and optimizer, one tf.function train step in three
forms, built side by side in one process and timed in interleaved rounds:
  plain   the update as Keras does it;
  waits   the update waits for all_finite(gradients) (a control
          dependency): what ordering alone costs, since no update can start
          before the last gradient is known to be finite;
  cond    the update under cond(all_finite(gradients), apply, no-op): what
          nantrace's guard does.
Prints the median ms/step of each and its median ratio to plain.
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.overhead import BATCH_SIZE, build_model  # noqa: E402

FORMS = ("plain", "waits", "cond")


def make_step(form, keras, tf):
    model = build_model(keras)
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = loss_fn(y, model(x, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        if form == "plain":
            optimizer.apply(grads, model.trainable_variables)
            return loss
        finite = tf.reduce_all(tf.stack([tf.reduce_all(tf.math.is_finite(g)) for g in grads]))
        if form == "waits":
            with tf.control_dependencies([finite]):
                grads = [tf.identity(g) for g in grads]
            optimizer.apply(grads, model.trainable_variables)
            return loss

        def apply():
            optimizer.apply(grads, model.trainable_variables)
            return tf.no_op()

        tf.cond(finite, apply, tf.no_op)
        return loss

    return step


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=40, help="steps per form per round")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = tf.constant(rng.standard_normal((BATCH_SIZE, 28, 28, 1)).astype("float32"))
    y = tf.constant(rng.integers(0, 10, BATCH_SIZE).astype("int32"))
    steps = {form: make_step(form, keras, tf) for form in FORMS}
    for step in steps.values():  # trace and warm up
        step(x, y)
        step(x, y)
    times = {form: [] for form in FORMS}
    for _ in range(args.rounds):
        for form, step in steps.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                step(x, y)
            times[form].append((time.perf_counter() - start) / args.steps * 1000.0)
    print(f"{args.rounds} rounds x {args.steps} steps, TF {tf.__version__}, Keras {keras.__version__}")
    print("| form | ms/step (median) | ratio to plain (median of rounds) |")
    print("|---|---:|---:|")
    for form in FORMS:
        ratio = statistics.median(a / b for a, b in zip(times[form], times["plain"]))
        print(f"| {form} | {statistics.median(times[form]):.2f} | {ratio:.3f}x |")


if __name__ == "__main__":
    main()
