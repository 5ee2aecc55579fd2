"""TensorFlow side of tb-nantrace. Everything under here may import TensorFlow."""
