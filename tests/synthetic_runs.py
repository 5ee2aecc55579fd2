"""Synthetic nantrace runs for viewer tests and benchmarks: written with the
real RecordWriter on the recorder's own timeline chunk schedule."""

import numpy as np

from tb_nantrace import metadata
from tb_nantrace.proto import nantrace_pb2 as pb
from tb_nantrace.recorder import health, health_monitor
from tb_nantrace.recorder.writer import RecordWriter

LAYERS = ["conv1", "conv2", "dense1", "logits"]
PER_LAYER = ["act_max_abs", "act_zero_frac", "grad_norm", "grad_nonfinite", "weight_norm",
             "update_ratio"]


def columns():
    metrics = ["loss", "grad_norm", "input_max_abs", "input_scale_spread"]
    layers = [""] * 4
    for layer in LAYERS:
        metrics += PER_LAYER
        layers += [layer] * len(PER_LAYER)
    return metrics, layers


def write_long_run(logdir, steps, seed=0):
    """Returns the number of timeline chunks written."""
    rng = np.random.default_rng(seed)
    metrics, layers = columns()
    writer = RecordWriter(logdir, metadata.session_id(1.7e9))
    writer.write(metadata.RUN_START, pb.RunInfo(schema_version=1, mode="guard", status="running"), 0)
    first, written = 0, 0
    while first < steps:
        size = health_monitor.chunk_size(written)
        last = min(steps, first + size) - 1
        level = 1.0 + np.log1p(last) / 10
        values = rng.random((4, len(metrics))).astype(np.float32) * level
        writer.write(metadata.TIMELINE, pb.TimelineChunk(
            schema_version=1, metric=metrics, layer=layers, first_step=first, last_step=last,
            count=last - first + 1, min=values[0], max=values[1], mean=values[2], last=values[3]),
            last)
        first, written = last + 1, written + 1
    incident = pb.Incident(schema_version=1, index=0, step=steps - 1, phase="backward", kind="nan")
    incident.op.type = "MatMul"
    writer.write(metadata.INCIDENT, incident, incident.step)
    window_steps = list(range(steps - health.WINDOW, steps))
    writer.write(metadata.WINDOW, pb.HealthWindow(
        schema_version=1, incident_index=0, metric=metrics, layer=layers, steps=window_steps,
        values=rng.random(len(window_steps) * len(metrics)).astype(np.float32)), steps - 1)
    for index, step in enumerate((1000, steps // 2, steps - 20)):
        writer.write(metadata.WARNING, pb.Warning(schema_version=1, index=index, step=step,
                                                  code="exploding_gradient", message="synthetic"),
                     step)
    writer.write(metadata.RUN_END, pb.RunInfo(schema_version=1, mode="guard", status="stopped", steps=steps),
                 steps)
    writer.close()
    return written


