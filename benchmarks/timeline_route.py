"""Latency and payload of the timeline routes for a 1,000,000-step run.

Writes a synthetic run the way the recorder would (timeline chunks on the
recorder's chunk schedule, an incident with its flight-recorder window, a
few warnings) and then asks for it:
  * through the plugin's WSGI app over TensorBoard's Python data provider;
  * over HTTP from a real `tensorboard` process (Rust data server, default).
Prints medians of repeated requests, payload sizes and the logdir's bytes.

    python benchmarks/timeline_route.py [--steps 1000000] [--repeats 20]
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests"))

from synthetic_runs import write_long_run  # noqa: E402

def logdir_bytes(logdir):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(logdir) for f in files)


def time_requests(get, repeats):
    times, size = [], 0
    get()  # warm: first read of a fresh provider loads the run
    for _ in range(repeats):
        start = time.perf_counter()
        body = get()
        times.append((time.perf_counter() - start) * 1000)
        size = len(body)
    return statistics.median(times), max(times), size


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="nantrace-timeline-")
    logdir = os.path.join(root, "run")
    try:
        start = time.perf_counter()
        chunks = write_long_run(logdir, args.steps)
        print(f"wrote {args.steps:,} steps as {chunks:,} timeline chunks in "
              f"{time.perf_counter() - start:.1f}s; logdir {logdir_bytes(root) / 1e6:.2f} MB "
              f"({logdir_bytes(root) / args.steps:.2f} bytes/step)")
        routes = {
            "timeline (default)": "timeline?run=run",
            "timeline (1 series)": "timeline?run=run&metric=grad_norm&stats=max",
            "window": "window?run=run&incident=0",
            "run detail": "run?run=run",
        }
        rows = []
        rows += measure_wsgi(root, routes, args.repeats)
        rows += measure_tensorboard(root, routes, args.repeats)
        print()
        print("| provider | route | median ms | max ms | payload KB |")
        print("| --- | --- | ---: | ---: | ---: |")
        for provider, route, median, worst, size in rows:
            print(f"| {provider} | {route} | {median:.1f} | {worst:.1f} | {size / 1024:.1f} |")
    finally:
        shutil.rmtree(root, ignore_errors=True)


def measure_wsgi(root, routes, repeats):
    from plugin_app import plugin_client

    # 100 nantrace points per tag, as the Rust data server keeps.
    client = plugin_client(root, keep=100)
    rows = []
    for label, route in routes.items():
        get = lambda: client.get("/data/plugin/nantrace/" + route).data  # noqa: E731
        json.loads(get())
        rows.append(("python (WSGI)", label) + time_requests(get, repeats))
    return rows


def measure_tensorboard(root, routes, repeats):
    import urllib.request

    from tensorboard_process import TensorBoardProcess

    server = TensorBoardProcess(root)
    server.start()
    try:
        server.wait_ready()
        server.wait_for(lambda v: v["runs"] and v["runs"][0]["steps"] > 0, "/data/plugin/nantrace/runs")
        rows = []
        for label, route in routes.items():
            url = server.url + "/data/plugin/nantrace/" + route
            get = lambda: urllib.request.urlopen(url, timeout=30).read()  # noqa: E731
            json.loads(get())
            rows.append(("rust data server (HTTP)", label) + time_requests(get, repeats))
        return rows
    finally:
        server.stop()


if __name__ == "__main__":
    main()
