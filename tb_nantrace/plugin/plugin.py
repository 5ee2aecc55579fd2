"""The "NaN Trace" TensorBoard plugin: HTTP routes over nantrace records.

Reads only through `context.data_provider`, so it works the same with the
Rust data server (TensorBoard's default) and with `--load_fast=false`.

Routes (under /data/plugin/nantrace):
    /index.js        the frontend ES module (tb_nantrace/static/index.js)
    /runs            {"runs": [run summary, ...]} sorted by run name
    /run?run=NAME    run detail; 400 without `run`, 404 for an unknown run
    /timeline?run=NAME[&metric=M&layer=L&stats=max,mean&max_points=500]
                     the sampled health timeline, downsampled here, with
                     incident and warning markers
    /window?run=NAME&incident=I[&session=S&metric=M...]
                     full-resolution health before incident I
    /*               any other path: a JSON 404 (not TensorBoard's text one)

Every answer of a data route is strict JSON (no NaN/Infinity literals):
200, 400 for a bad parameter, 404 for what does not exist; 500 only for a
bug, as JSON too.
"""

import logging
import os

from werkzeug import wrappers

from tensorboard import errors, plugin_util
from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin

from tb_nantrace import metadata, reader, records

logger = logging.getLogger(__name__)

STATIC_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "static")
INDEX_JS = os.path.join(STATIC_DIR, "index.js")

JSON_TYPE = "application/json"
MAX_TIMELINE_POINTS = 5000
JS_TYPE = "text/javascript"

# Served when the frontend build is missing: the tab still says something.
FALLBACK_INDEX_JS = """\
export async function render() {
  const message = document.createElement("p");
  message.style.fontFamily = "Roboto, sans-serif";
  message.style.padding = "16px";
  message.textContent =
    "NaN Trace: the frontend (tb_nantrace/static/index.js) is not installed. " +
    "The data is available at ./runs and ./run?run=NAME.";
  document.body.appendChild(message);
}
"""


def _json(request, value, code=200):
    return http_util.Respond(request, records.dumps(value), JSON_TYPE, code=code)


def _error(request, message, code):
    return _json(request, {"error": message}, code=code)


class NanTracePlugin(base_plugin.TBPlugin):
    plugin_name = metadata.PLUGIN_NAME

    def __init__(self, context):
        self._data_provider = context.data_provider

    def is_active(self):
        # TensorBoard >= 2.5 decides through data_plugin_names().
        return False

    def data_plugin_names(self):
        return (metadata.PLUGIN_NAME,)

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(
            es_module_path="/index.js", tab_name="NaN Trace"
        )

    def get_plugin_apps(self):
        return {
            "/index.js": self._serve_index_js,
            "/runs": self._serve_runs,
            "/run": self._serve_run,
            "/timeline": self._serve_timeline,
            "/window": self._serve_window,
            "/*": self._serve_unknown,
        }

    @wrappers.Request.application
    def _serve_unknown(self, request):
        return _error(request, "unknown nantrace route", 404)

    @wrappers.Request.application
    def _serve_index_js(self, request):
        try:
            with open(INDEX_JS, "rb") as f:
                content = f.read()
        except OSError:
            content = FALLBACK_INDEX_JS.encode("utf-8")
        return http_util.Respond(request, content, JS_TYPE)

    def _guarded(self, request, compute):
        if self._data_provider is None:
            return _error(request, "TensorBoard has no data provider", 503)
        try:
            return _json(request, compute())
        except reader.UnknownRunError as error:
            return _error(request, f"no nantrace data for run {error.args[0]!r}", 404)
        except reader.UnreadableRecordsError as error:
            message, skipped = error.args
            return _json(request, {"error": message, "skipped": skipped}, code=404)
        except errors.PublicError as error:
            return _error(request, str(error), error.http_code)
        except Exception as error:  # a bug: report it as JSON, log the traceback
            logger.exception("nantrace: request %s failed", request.full_path)
            return _error(request, f"internal error: {type(error).__name__}", 500)

    @wrappers.Request.application
    def _serve_runs(self, request):
        ctx = plugin_util.context(request.environ)
        experiment = plugin_util.experiment_id(request.environ)
        return self._guarded(
            request,
            lambda: {
                "runs": reader.list_runs(self._data_provider, ctx, experiment)
            },
        )

    @wrappers.Request.application
    def _serve_run(self, request):
        run = request.args.get("run")
        if not run:
            return _error(request, "missing query parameter: run", 400)
        ctx = plugin_util.context(request.environ)
        experiment = plugin_util.experiment_id(request.environ)
        return self._guarded(
            request,
            lambda: reader.read_run(self._data_provider, ctx, experiment, run),
        )

    @wrappers.Request.application
    def _serve_timeline(self, request):
        run = request.args.get("run")
        if not run:
            return _error(request, "missing query parameter: run", 400)
        try:
            max_points = int(request.args.get("max_points", reader.DEFAULT_TIMELINE_POINTS))
        except ValueError:
            return _error(request, "max_points must be an integer", 400)
        if not 1 <= max_points <= MAX_TIMELINE_POINTS:
            return _error(request, f"max_points must be in 1..{MAX_TIMELINE_POINTS}", 400)
        stats = tuple(s for s in request.args.get("stats", "max,mean").split(",") if s)
        if not stats or any(s not in reader.TIMELINE_STATS for s in stats):
            return _error(request, f"stats must be among {','.join(reader.TIMELINE_STATS)}", 400)
        metrics = request.args.getlist("metric") or None
        layers = request.args.getlist("layer") or None
        ctx = plugin_util.context(request.environ)
        experiment = plugin_util.experiment_id(request.environ)
        return self._guarded(
            request,
            lambda: reader.read_timeline(self._data_provider, ctx, experiment, run,
                                         max_points, stats, metrics, layers),
        )

    @wrappers.Request.application
    def _serve_window(self, request):
        run = request.args.get("run")
        if not run:
            return _error(request, "missing query parameter: run", 400)
        try:
            incident = int(request.args.get("incident", ""))
        except ValueError:
            return _error(request, "incident must be an integer", 400)
        session = request.args.get("session", "")
        ctx = plugin_util.context(request.environ)
        experiment = plugin_util.experiment_id(request.environ)

        def window():
            found = reader.read_window(self._data_provider, ctx, experiment, run, incident, session,
                                       request.args.getlist("metric") or None)
            if found is None:
                raise errors.NotFoundError(f"run {run!r}: incident {incident} has no health window")
            return found

        return self._guarded(request, window)
