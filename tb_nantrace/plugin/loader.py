"""TensorBoard entry point (`tensorboard_plugins` in pyproject.toml)."""

from tensorboard.plugins import base_plugin


class NanTracePluginLoader(base_plugin.TBLoader):
    """Loads the NaN Trace plugin; it needs nothing beyond TensorBoard."""

    def load(self, context):
        from tb_nantrace.plugin.plugin import NanTracePlugin

        return NanTracePlugin(context)
