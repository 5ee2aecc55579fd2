"""tf.distribute: MirroredStrategy on 2 logical CPUs, and MultiWorkerMirrored
Strategy with 2 worker processes on 127.0.0.1 (TF_CONFIG). Each runs in its
own process: logical devices and collectives are set up per process."""

import json
import os
import socket
import subprocess
import sys

from recorded import read_back
from tb_nantrace.report import json_report, loader

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(REPO, "tests", "scripts", "train_distributed.py")


def run_script(kind, logdir, mode="guard", env=None, timeout=150):
    return subprocess.Popen(
        [sys.executable, SCRIPT, kind, str(logdir), mode],
        env={**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def result_of(process, timeout=150):
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def test_mirrored_strategy_attributes_the_replica(tmp_path):
    result = result_of(run_script("mirrored", tmp_path / "mirrored"))
    (incident,) = result["incidents"]
    # Global batch 2 holds the NaN in row 13: replica 1's half, its row 5.
    assert (incident["step"], incident["phase"], incident["replica"]) == (2, "input", 1)
    assert incident["input_location"]["batch_index"] == 5
    assert result["weights_finite"] and result["iterations"] == 2
    assert read_back(tmp_path / "mirrored")["."]["incidents"][0]["replica"] == 1


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_multi_worker_each_worker_its_own_run(tmp_path):
    cluster = {"worker": [f"127.0.0.1:{free_port()}" for _ in range(2)]}
    workers = [
        run_script("worker", tmp_path / "logs", env={"TF_CONFIG": json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": index}})})
        for index in range(2)
    ]
    results = [result_of(worker) for worker in workers]
    assert [r["logdir"] for r in results] == [
        str(tmp_path / "logs" / "worker-0"), str(tmp_path / "logs" / "worker-1")]
    # Both stop at step 2 with finite weights: no worker applied the update.
    for result in results:
        assert result["weights_finite"] and result["iterations"] == 2
    runs = {run["run"]: run for run in loader.load_logdir(str(tmp_path / "logs"))}
    assert set(runs) == {"worker-0", "worker-1"}
    bad = runs["worker-1"]["incidents"][0]
    assert (bad["step"], bad["replica"]) == (2, 1)
    assert bad["inputs"][0]["nan"] == 8  # worker 1's batch: 8 rows, all NaN
    assert "another replica or worker" in runs["worker-0"]["incidents"][0]["note"]
    first = json_report.first_incident(list(runs.values()))
    assert (first["run"], first["step"], first["replica"]) == ("worker-1", 2, 1)
