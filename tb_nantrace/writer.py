"""Writes nantrace records into ordinary TensorBoard event files (TF side).

Each record is a scalar string tensor holding one serialized proto, written
with tf.summary under plugin name `nantrace`. Every write is flushed at once:
an incident must survive the process being killed right after it.
"""

import tensorflow as tf

from tb_nantrace import metadata


class RecordWriter:
    def __init__(self, logdir, session):
        self.logdir = logdir
        self.session = session
        # A private writer: never replaces a default writer the user set up
        # (e.g. Keras' TensorBoard callback), and never needs a flush thread.
        self._writer = tf.summary.create_file_writer(
            logdir, max_queue=1, filename_suffix=".nantrace"
        )

    def _write(self, tag, kind, message, step):
        payload = tf.constant(message.SerializeToString(), dtype=tf.string)
        # Records are written from Python between steps, never from inside
        # the user's tf.function: run eagerly whatever the caller's context.
        with tf.init_scope(), self._writer.as_default():
            tf.summary.write(
                tag,
                payload,
                step=int(step),
                metadata=metadata.summary_metadata(kind),
            )
        self._writer.flush()

    def write_incident(self, incident):
        self._write(
            metadata.incident_tag(self.session, incident.index),
            metadata.KIND_INCIDENT,
            incident,
            incident.step,
        )

    def write_window(self, window, step):
        tag = metadata.window_tag(self.session, window.incident_index)
        self._write(tag, metadata.KIND_WINDOW, window, step)

    def write_warning(self, warning):
        tag = metadata.warning_tag(self.session, warning.index)
        self._write(tag, metadata.KIND_WARNING, warning, warning.step)

    def write_timeline(self, chunk):
        tag = metadata.run_info_tag(metadata.TIMELINE_TAG, self.session)
        self._write(tag, metadata.KIND_TIMELINE, chunk, chunk.last_step)

    def write_run_start(self, info):
        tag = metadata.run_info_tag(metadata.RUN_START_TAG, self.session)
        self._write(tag, metadata.KIND_RUN_INFO, info, 0)

    def write_run_end(self, info):
        tag = metadata.run_info_tag(metadata.RUN_END_TAG, self.session)
        self._write(tag, metadata.KIND_RUN_INFO, info, info.steps)

    def close(self):
        self._writer.close()
