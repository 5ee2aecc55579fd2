"""What nantrace does on the host between steps, per step of a healthy fit.

    python benchmarks/host_cost.py                     # cnn, 600 steps
    python benchmarks/host_cost.py --config mlp_bn --steps 1000

benchmarks/overhead.py sees the whole cost of a recorded fit; this splits
off the part that runs in Python on the training thread between two
steps (keras_hooks: the recording's end of step), where a profiler's own
cost would distort it: each part is timed with a clock around its call,
over the steady part of one recorded fit (from step 1 to the end):

  end of step        Recording.end_of_step, all of it;
  snapshot ring      SnapshotRing.after_step (a copy of the state every
                     `snapshot_every` steps);
  health monitor     HealthMonitor.after_step (every 64 steps: one read of
                     the health ring, the warning rules, a timeline chunk);
  op callback        OpCallback.__call__ for the eager ops run during the
                     fit (Keras's own and nantrace's), in or out of the end
                     of step.

Prints ms per step of each, and the fit's steady ms/step for scale.
"""

import argparse
import collections
import contextlib
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.overhead import CONFIGS, batch_size, build_model  # noqa: E402


@contextlib.contextmanager
def timed(parts):
    """Wrap each (label, class, method) with a clock; yields {label: [seconds, calls]}."""
    totals = collections.defaultdict(lambda: [0.0, 0])
    saved = []
    for label, cls, name in parts:
        original = getattr(cls, name)
        saved.append((cls, name, original))

        def clocked(*args, _original=original, _label=label, **kwargs):
            start = time.perf_counter()
            try:
                return _original(*args, **kwargs)
            finally:
                totals[_label][0] += time.perf_counter() - start
                totals[_label][1] += 1

        setattr(cls, name, clocked)
    try:
        yield totals
    finally:
        for cls, name, original in saved:
            setattr(cls, name, original)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", choices=CONFIGS, default="cnn")
    parser.add_argument("--steps", type=int, default=600)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np

    import tb_nantrace as nantrace
    from tb_nantrace.recorder import health_monitor, instrument, recording, snapshots

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    size = batch_size(args.config)
    model = build_model(keras, args.config)
    x = rng.standard_normal((args.steps * size, 28, 28, 1)).astype("float32")
    y = rng.integers(0, 10, args.steps * size).astype("int32")
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    parts = [("end of step", recording.Recording, "end_of_step"),
             ("snapshot ring", snapshots.SnapshotRing, "after_step"),
             ("health monitor", health_monitor.HealthMonitor, "after_step"),
             ("op callback", instrument.OpCallback, "__call__")]
    span = {}

    class Steady(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            if batch == 1:  # what the first step did (tracing) is not counted
                totals.clear()
                span["start"] = time.perf_counter()

        def on_train_end(self, logs=None):
            span["end"] = time.perf_counter()

    with timed(parts) as totals, tempfile.TemporaryDirectory() as logdir:
        with nantrace.record(logdir):
            model.fit(x, y, batch_size=size, epochs=1, shuffle=False, verbose=0,
                      callbacks=[Steady()])
    steps = args.steps - 1
    print(f"--config {args.config}, {args.steps} steps: steady "
          f"{(span['end'] - span['start']) / steps * 1e3:.3f} ms/step")
    print("| part | calls | ms per step |")
    print("|---|---:|---:|")
    for label, _, _ in parts:
        seconds, calls = totals.get(label, (0.0, 0))
        print(f"| {label} | {calls} | {seconds / steps * 1e3:.3f} |")


if __name__ == "__main__":
    main()
