"""Seeded, fast Keras programs that each produce one classic NaN/Inf failure.

Every scenario module exposes:

    build() -> (model, x, y, fit_kwargs)   seeded, synthetic data, compiled model
    main(logdir="demo/logs/<name>", **record_options) -> History
        runs model.fit(...) inside nantrace.record(logdir, **record_options)
    EXPECTED                               where the first non-finite value appears
                                           (None for the healthy run)

Run them all with `python -m demo.run_all` (or one: `python -m demo.<name>`),
from the repository root.

Importing this package imports TensorFlow without its C++ startup log
(demo/_quiet.py), before any scenario imports Keras: a demo prints our
report, not CUDA probing and oneDNN notices.
"""

from demo._quiet import import_tensorflow_quietly

import_tensorflow_quietly()

SCENARIOS = (
    "bce_saturation",
    "unscaled_features",
    "relu_high_lr",
    "mae_div_zero",
    "healthy",
)

__all__ = ["SCENARIOS"]
