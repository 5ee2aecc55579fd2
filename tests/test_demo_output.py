"""What a user sees running `python -m demo.run_all`: our lines only (no
TensorFlow startup log, even without TF_CPP_MIN_LOG_LEVEL set), the early
warnings in step order, and the "expected" source line each demo announces
is the one the incident then names. Two short scenarios (~10 s in all)."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("unscaled_features", "relu_high_lr")  # their op is created inside Keras
TENSORFLOW_NOISE = re.compile(r"^[IWEF]\d{4} |absl::|oneDNN|cuda|CUDA|TF_ENABLE_ONEDNN_OPTS")


def run_all_output(logdir):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONUNBUFFERED"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "demo.run_all", "--logdir", str(logdir), *SCENARIOS],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout
    return done.stdout


def sections(output):
    """{scenario: its lines} from '[i/n] (x) name: ...' to the next one or the report."""
    found, current = {}, None
    for line in output.splitlines():
        header = re.match(r"\[\d+/\d+\] \(\w\) (\w+):", line)
        if header:
            current = found.setdefault(header.group(1), [])
        elif line.startswith("$ nantrace report"):
            current = None
        elif current is not None:
            current.append(line)
    return found


def test_run_all_prints_no_tensorflow_startup_log_and_keeps_its_promises(tmp_path):
    output = run_all_output(tmp_path)
    assert not [line for line in output.splitlines() if TENSORFLOW_NOISE.search(line)], output
    per_scenario = sections(output)
    assert set(per_scenario) == set(SCENARIOS), output
    for name, lines in per_scenario.items():
        text = "\n".join(lines)
        (expected,) = re.findall(r"expected: .*, at (demo/\w+\.py:\d+)", text)
        (reported,) = re.findall(r"^  at (demo/\w+\.py:\d+): ", text, re.MULTILINE)
        assert expected == reported, text
        warned = [int(s) for s in re.findall(r"^nantrace: warning at step (\d+):", text, re.MULTILINE)]
        assert warned, text
        assert warned == sorted(warned), f"{name}: warnings printed out of step order:\n{text}"
