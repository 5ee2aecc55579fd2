"""Distributed training with a NaN in one replica's (or one worker's) data.

    train_distributed.py mirrored LOGDIR MODE      # 2 logical CPUs, MirroredStrategy
    train_distributed.py worker LOGDIR MODE        # one MultiWorkerMirroredStrategy
                                                   # worker; TF_CONFIG says which
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

GLOBAL_BATCH = 16


def data(bad, rows=(45,)):
    x = np.ones((64, 3), "float32")
    if bad:
        x[list(rows), 1] = np.nan  # batch 2
    return x, np.ones((64, 1), "float32")


def main(kind, logdir, mode):
    if kind == "mirrored":
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        x, y = data(bad=True)
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH)
    else:
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        task = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
        # Each worker reads its own files; worker 1's batch 2 is bad.
        x, y = data(bad=task == 1, rows=range(16, 24))  # 8 rows per worker and step
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH).with_options(options)

    import keras
    import tb_nantrace as nantrace

    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.layers.Input((3,)), keras.layers.Dense(4, name="hidden"),
                                  keras.layers.Dense(1, name="out")])
        model.compile(optimizer="sgd", loss="mse")
    if kind == "mirrored":
        with nantrace.record(logdir, mode=mode) as recording:
            model.fit(dataset, epochs=1, verbose=0)
    else:
        # Keras 3.15's fit fails under MultiWorkerMirroredStrategy before any
        # step (strategy.reduce of the first batch in _maybe_symbolic_build),
        # with or without nantrace: train with a custom loop, as its guide does.
        with strategy.scope():
            optimizer = keras.optimizers.SGD(0.01)
        iterator = iter(strategy.experimental_distribute_dataset(dataset))

        @tf.function
        def train_step(iterator):
            def replica_step(x, y):
                with tf.GradientTape() as tape:
                    error = tf.square(model(x, training=True) - y)
                    loss = tf.nn.compute_average_loss(error, global_batch_size=GLOBAL_BATCH)
                grads = tape.gradient(loss, model.trainable_variables)
                optimizer.apply_gradients(zip(grads, model.trainable_variables))

            strategy.run(replica_step, args=next(iterator))

        with nantrace.record(logdir, mode=mode, optimizer=optimizer) as recording:
            for _ in range(4):
                train_step(iterator)
        model.optimizer = optimizer
    finite = all(np.isfinite(w).all() for w in model.get_weights())
    print(json.dumps({"incidents": recording.incidents, "weights_finite": bool(finite),
                      "iterations": int(model.optimizer.iterations.numpy()),
                      "logdir": recording.logdir}))


if __name__ == "__main__":
    main(*sys.argv[1:4])
