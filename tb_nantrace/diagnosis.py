"""Why an op produced NaN/Inf, from the recorded evidence alone.

Pure Python on the Incident proto: the recorder calls it for the message it
prints, and it needs nothing the viewer lacks (no TensorFlow, in this module
or the ones it imports).

Each rule names one mechanism and claims it only when the input and output
statistics prove it (or make it the only explanation left), and its summary
quotes those numbers. Overflow in particular is claimed only when an upper
bound on the result, computed from the inputs' largest magnitudes, reaches
the dtype's max: small inputs can never be called an overflow. What no rule
explains is `unknown`, with the evidence.

The rules themselves are in cause_rules.py, the facts they read and the
number formatting in evidence.py, the fix texts in fixes.py; this module
puts a Cause together and keeps the names the recorder and tests use
(diagnose, FIXES, DTYPE_MAX, fmt, fmt_log, the two summary helpers).
"""

from tb_nantrace import cause_rules
from tb_nantrace.evidence import (DTYPE_MAX, Evidence, fmt, fmt_log,  # noqa: F401 (re-exported)
                                  probability_producer)
from tb_nantrace.fixes import FIXES, fixes_for
from tb_nantrace.proto import nantrace_pb2

__all__ = ["DTYPE_MAX", "FIXES", "diagnose", "fmt", "fmt_log", "initial_state_summary",
           "nonfinite_update_summary"]


def nonfinite_update_summary(optimizer, step, learning_rate, settings, variable, bad, size,
                             others=()):
    """The cause of a finite-gradient update that left a weight non-finite."""
    shown = ", ".join(f"{name}={value!r}" for name, value in settings.items())
    return (
        f"{optimizer}'s update at step {step} (learning rate {learning_rate:g}"
        + (f", {shown}" if shown else "") + f") made {variable} non-finite "
        f"({bad} of {size} values) although the loss and every gradient were finite"
        + (f"; also {', '.join(others)}" if others else "")
    )


def initial_state_summary(variable, kind):
    """The cause when a weight was non-finite before recording began."""
    return (f"variable {variable} already held {kind} before this step: "
            "the model's state was corrupted before recording began")


def diagnose(incident):
    """Return a Cause for the incident (code, summary with the evidence, fixes)."""
    code, summary = _classify(incident)
    producer = probability_producer(incident) if code == "log_of_nonpositive" else None
    if producer is not None:
        summary += f"; the value comes from {producer[0]} {producer[1]}"
    cause = nantrace_pb2.Cause(code=code, summary=summary)
    cause.contributing.extend(incident.cause.contributing)
    cause.fixes.extend(fixes_for(code, producer[0] if producer else None))
    return cause


def _classify(incident):
    if incident.phase == "input":
        loc = incident.input_location
        where = f"row {loc.batch_index}" + (
            f", feature {list(loc.feature_index)}" if len(loc.feature_index) else ""
        )
        return "nan_in_input", (
            f"The input batch already contains {incident.kind.replace('_', ' and ')} "
            f"({loc.tensor or 'x'} {where}): it came from the data, not the model."
        )
    if incident.cause.code in ("nonfinite_initial_state", "nonfinite_update"):
        return incident.cause.code, incident.cause.summary
    evidence = Evidence(incident)
    for rule in cause_rules.RULES:
        found = rule(evidence)
        if found:
            return found
    return "unknown", cause_rules.unexplained(evidence)
