"""Put back an update that made finite weights non-finite, so that the step
can be replayed and the optimizer's op named.

Finite gradients can still give non-finite weights: the optimizer's own
arithmetic did it (Adam with epsilon=0 on a gradient of exactly 0, a
learning-rate schedule that goes NaN past its horizon, weight decay, an
overflow). Exact mode names that op because it checks every op of the
update. The default mode finds it the way it finds every other origin: it
replays the failed step op by op from the state before the step. The update
has overwritten that state, so the guarded step holds the values of the
update's variables (weights, optimizer slots and step counter) from before
the update, and only when a weight is non-finite after it puts them back,
on the device.

Holding them costs one read per variable on a healthy step. An in-place
update of a held buffer would copy it first (copy on write): one more pass
over the optimizer's state per step. So the guarded update writes large
variables out of place (compat.out_of_place_updates): the new values go to
a new buffer, the held one is simply kept. Above the recording's memory budget
(`record(snapshot_memory_mb=...)`) nothing is held, the recording says so
once, and such an incident names the update (`nonfinite_update`) without
its op.
"""

import tensorflow as tf

from tb_nantrace.recorder import guard, snapshots


def update_variables(optimizer, trainable):
    """Every variable the optimizer's update may write: the trained weights
    and the optimizer's own (slots, step counter, EMA copies), each once."""
    return snapshots.unique(list(trainable) + list(getattr(optimizer, "variables", ())))


class UpdateUndo:
    """Trace time: the update's variables, read before the update."""

    def __init__(self, variables):
        self.variables = variables
        self.values = [tf.convert_to_tensor(v) for v in variables]  # held across the update

    @classmethod
    def keep(cls, optimizer, trainable, budget_bytes, note):
        """An UpdateUndo, or None (and a note) when the copy would exceed
        `budget_bytes`."""
        variables = update_variables(optimizer, trainable)
        size = snapshots.nbytes(variables)
        if size > budget_bytes:
            note(f"the optimizer state ({size / 2 ** 20:.1f} MB) is above "
                 f"record(snapshot_memory_mb={budget_bytes / 2 ** 20:g}): an update that makes "
                 "the weights non-finite is reported without its op, and stops training")
            return None
        return cls(variables)

    def before(self, variables):
        """The held values of `variables` (a subset of the update's)."""
        index = {id(v): i for i, v in enumerate(self.variables)}
        return [self.values[index[id(v)]] for v in variables]

    def put_back(self):
        """Graph ops (for the failing branch): the state before the update."""
        return guard.restore(self.variables, self.values)
