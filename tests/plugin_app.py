"""The nantrace plugin as TensorBoard serves it, in-process: a real TBContext
over TensorBoard's Python data provider, wrapped in TensorBoard's WSGI app;
and `get_json`, how tests read its JSON answers."""

import urllib.parse

from werkzeug.test import Client

from tensorboard.backend import application
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.plugins import base_plugin

from tb_nantrace import metadata
from tb_nantrace.plugin.loader import NanTracePluginLoader
from tensorboard_process import strict_json_loads

PLUGIN_ROUTES = "/data/plugin/nantrace/"


def plugin_app(root, keep=0):
    """WSGI app over the logdir `root`. `keep` nantrace points per tag: 0 keeps
    all; 100 is what TensorBoard's Rust data server keeps."""
    root = str(root)
    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        tensor_size_guidance={metadata.PLUGIN_NAME: keep}
    )
    multiplexer.AddRunsFromDirectory(root)
    multiplexer.Reload()
    provider = data_provider.MultiplexerDataProvider(multiplexer, root)
    context = base_plugin.TBContext(data_provider=provider, logdir=root, multiplexer=multiplexer)
    plugin = NanTracePluginLoader().load(context)
    return application.TensorBoardWSGI([plugin], data_provider=provider)


def plugin_client(root, keep=0):
    return Client(plugin_app(root, keep))


def get_json(client, path, status=200, **params):
    """GET `path` (under the plugin's routes, or from the server root when
    it starts with "/"), with `params` as the query string; checks the status
    and that the answer is strict JSON (no NaN/Infinity literals), and
    returns it decoded."""
    query = urllib.parse.urlencode(params)
    url = (path if path.startswith("/") else PLUGIN_ROUTES + path) + (f"?{query}" if query else "")
    response = client.get(url)
    body = response.get_data(as_text=True)
    assert response.status_code == status, body[:300]
    assert response.headers["Content-Type"].startswith("application/json"), body[:300]
    return strict_json_loads(body)
