"""Writes nantrace records into ordinary TensorBoard event files.

Each record is a scalar string tensor holding one serialized proto, written
as tf.summary.write writes it (compat.write_summary) under plugin name
`nantrace`; its tag and summary metadata come from the record kind's entry
in `metadata.RECORDS`. Every write is flushed at once: an incident must
survive the process being killed right after it.
"""

import tensorflow as tf

from tb_nantrace.recorder import compat


class RecordWriter:
    def __init__(self, logdir, session_id, header=None):
        self.logdir = logdir
        self.session_id = session_id  # the recording's id: part of every tag
        # (record, message, step) written first, when the file is opened: the
        # run's directory can still change until then (retarget).
        self._header = header
        self._writer = None
        tf.io.gfile.makedirs(logdir)
        probe = tf.io.gfile.join(logdir, f".nantrace-{session_id}.probe")
        with tf.io.gfile.GFile(probe, "w") as handle:  # unwritable: fail now, not mid-training
            handle.write("")
        tf.io.gfile.remove(probe)

    def retarget(self, logdir):
        """Write into `logdir` instead, if nothing was written yet (True)."""
        if self._writer is not None:
            return False
        tf.io.gfile.makedirs(logdir)
        self.logdir = logdir
        return True

    def _open(self):
        # A private writer: never replaces a default writer the user set up
        # (e.g. Keras' TensorBoard callback), and never needs a flush thread.
        self._writer = tf.summary.create_file_writer(
            self.logdir, max_queue=1, filename_suffix=".nantrace"
        )
        if self._header is not None:
            self.write(*self._header)

    def write(self, record, message, step):
        """Write `message` as a `record` (e.g. metadata.INCIDENT) at `step`."""
        if self._writer is None:
            self._open()
        # Records are written from Python between steps, never from inside
        # the user's tf.function: run eagerly whatever the caller's context.
        with tf.init_scope():
            compat.write_summary(self._writer, record.tag(self.session_id, message),
                                 message.SerializeToString(), int(step),
                                 record.summary_metadata().SerializeToString())
        self._writer.flush()

    def close(self):
        if self._writer is not None:
            self._writer.close()
