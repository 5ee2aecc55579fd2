"""The nantrace plugin as TensorBoard serves it, in-process: a real TBContext
over TensorBoard's Python data provider, wrapped in TensorBoard's WSGI app."""

from werkzeug.test import Client

from tensorboard.backend import application
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer
from tensorboard.plugins import base_plugin

from tb_nantrace import metadata
from tb_nantrace.plugin.loader import NanTracePluginLoader


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
