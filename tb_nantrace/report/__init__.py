"""`nantrace report`: summarise a logdir's nantrace records (no TensorFlow)."""
