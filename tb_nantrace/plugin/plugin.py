"""The "NaN Trace" TensorBoard plugin: HTTP routes over nantrace records.

Reads only through `context.data_provider`, so it works the same with the
Rust data server (TensorBoard's default) and with `--load_fast=false`.

Routes (under /data/plugin/nantrace):
    /index.js        the frontend ES module (tb_nantrace/static/index.js)
    /runs            {"runs": [run summary, ...]} sorted by run name
    /run?run=NAME    run detail; 400 without `run`, 404 for an unknown run
"""

import logging
import os

from werkzeug import wrappers

from tensorboard import errors, plugin_util
from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin

from tb_nantrace import metadata, reader

logger = logging.getLogger(__name__)

STATIC_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "static")
INDEX_JS = os.path.join(STATIC_DIR, "index.js")

JSON_TYPE = "application/json"
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
    return http_util.Respond(request, reader.dumps(value), JSON_TYPE, code=code)


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
        }

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
