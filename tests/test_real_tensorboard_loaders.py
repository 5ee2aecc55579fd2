"""Real TensorBoard processes over the viewer logdir (viewer_runs.py): the
Rust data server (TensorBoard's default) and --load_fast=false (the Python
multiplexer) list the NaN Trace tab and serve the same runs."""

import pytest

from tensorboard_process import TensorBoardProcess, stop_all
from viewer_runs import BIG, check_big, check_rich, check_runs

MODES = {"rust": [], "python": ["--load_fast=false"]}


@pytest.fixture(scope="module")
def tensorboards(viewer_logdir):
    """Both servers, started at once (each start costs seconds of imports)."""
    servers = {
        mode: TensorBoardProcess(viewer_logdir, extra_args=args, timeout=60).start()
        for mode, args in MODES.items()
    }
    try:
        yield servers
    finally:
        stop_all(servers.values())


@pytest.mark.parametrize("mode", list(MODES))
def test_real_tensorboard_serves_the_tab_with_either_loader(tensorboards, mode):
    tb = tensorboards[mode].wait_ready()

    environment = tb.get_json("/data/environment")
    provider_name = environment.get("debug", {}).get("data_provider", "")
    servers = [argv for _, argv in tb.children()
               if any("tensorboard_data_server" in a for a in argv)]
    if mode == "rust":
        assert provider_name.startswith("GrpcDataProvider"), environment
        assert servers, f"no tensorboard-data-server child:\n{tb.log_tail()}"
    else:
        assert provider_name.startswith("MultiplexerDataProvider"), environment
        assert not servers

    listing = tb.get_json("/data/plugins_listing")
    assert listing["nantrace"]["tab_name"] == "NaN Trace"
    assert listing["nantrace"]["loading_mechanism"]["module_path"] == (
        "/data/plugin/nantrace/index.js"
    )

    # Event files are loaded in the background: wait for all of them.
    def complete(body):
        runs = {r["run"]: r for r in body["runs"]}
        return (runs.get("big", {}).get("incident_count") == BIG
                and "healthy" in runs and "nested/deep" in runs
                and runs["big"]["steps"] == 400)

    body = tb.wait_for(complete, "/data/plugin/nantrace/runs", timeout=60)
    assert tb.wait_for(lambda b: True, "/data/plugins_listing")["nantrace"]["enabled"] is True
    check_runs(body)
    check_big(tb.get_json("/data/plugin/nantrace/run?run=big"))
    check_rich(tb.get_json("/data/plugin/nantrace/run?run=nested%2Fdeep"))
    assert "error" in tb.get_json("/data/plugin/nantrace/run?run=nope", expect_status=404)
    assert "error" in tb.get_json("/data/plugin/nantrace/run", expect_status=400)

    status, headers, js = tb.get("/data/plugin/nantrace/index.js")
    assert status == 200
    assert headers["Content-Type"].startswith("text/javascript")
    assert b"render" in js
