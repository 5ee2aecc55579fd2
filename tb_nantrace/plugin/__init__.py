"""The "NaN Trace" TensorBoard plugin (viewer side: never imports TensorFlow)."""
