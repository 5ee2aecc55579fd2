"""Which rows of the failing batch produce the non-finite value, and where
they are in the user's data.

Two ways, cheapest first:
  origin_rows  the origin op's output keeps the batch dimension (a forward
               op whose first dimension is the batch): its non-finite rows
               are the culprits, no replay needed;
  bisection    otherwise the failing step is replayed on subsets of the
               batch from the restored pre-step state (delta debugging,
               Zeller's ddmin) until the smallest set of rows that still
               gives a non-finite loss or gradient: rows that fail only
               together are found together. Bounded by the time budget
               (`complete` False when it ran out).
The index into `x` is known for NumPy inputs with `shuffle=False`: the
batch at (epoch, batch) is `x[batch * batch_size:][:len(batch)]`, which is
checked against the kept batch before any index is claimed.
"""

import numpy as np
import tensorflow as tf

MAX_EXAMPLES = 16  # examples summarized; every row is listed


def origin_rows(outputs, batch_size, phase):
    """Rows of the batch whose origin output is non-finite, when the origin
    is a forward op whose outputs keep the batch dimension; else None."""
    if phase not in ("forward", "input") or batch_size < 1:
        return None
    shaped = [np.asarray(o) for o in outputs
              if np.ndim(o) >= 1 and np.shape(o)[0] == batch_size
              and np.issubdtype(np.asarray(o).dtype, np.floating)]
    if not shaped:
        return None
    bad = np.zeros(batch_size, bool)
    for output in shaped:
        bad |= ~np.isfinite(output.reshape(batch_size, -1)).all(axis=1)
    rows = [int(r) for r in np.flatnonzero(bad)]
    return rows or None


def minimal_rows(n, fails, out_of_time):
    """ddmin: a 1-minimal subset of range(n) for which `fails(rows)` holds
    (removing any one row makes it pass). Returns (rows, complete)."""
    rows, granularity = list(range(n)), 2
    while len(rows) >= 2:
        if out_of_time():
            return rows, False
        size = len(rows)
        chunks = [rows[size * i // granularity:size * (i + 1) // granularity]
                  for i in range(granularity)]
        chunks = [c for c in chunks if c]
        reduced = None
        for chunk in chunks:
            if fails(chunk):
                reduced, granularity = chunk, 2
                break
            if out_of_time():
                return rows, False
        if reduced is None and len(chunks) > 2:
            for chunk in chunks:
                complement = [r for r in rows if r not in chunk]
                if fails(complement):
                    reduced, granularity = complement, max(granularity - 1, 2)
                    break
                if out_of_time():
                    return rows, False
        if reduced is not None:
            rows = reduced
            continue
        if granularity >= size:
            break
        granularity = min(size, granularity * 2)
    return rows, True


def leaf_names(context, count):
    """A name per batch leaf: "x", "y", "x[0]" where the guard checked it."""
    names = [f"batch[{i}]" for i in range(count)]
    for leaf, site in getattr(context, "input_sites", ()):
        if leaf < count:
            names[leaf] = site.op_name
    return names


def examples(rows, arrays, names, position):
    """A summary of each culprit row: min/max/NaN/Inf of each float tensor of
    the batch, and its index into x where `position` (locate) has one."""
    start = position.get("start")
    result = []
    for row in rows[:MAX_EXAMPLES]:
        features = []
        for name, array in zip(names, arrays):
            array = np.asarray(array)
            if not np.issubdtype(array.dtype, np.floating) or array.ndim < 1 or row >= len(array):
                continue
            values = array[row].astype(np.float64).ravel()
            finite = values[np.isfinite(values)]
            features.append({
                "tensor": name,
                "min": float(finite.min()) if finite.size else None,
                "max": float(finite.max()) if finite.size else None,
                "nan_count": int(np.isnan(values).sum()),
                "inf_count": int(np.isinf(values).sum()),
            })
        result.append({"row": int(row), "index": start + int(row) if start is not None else None,
                       "epoch": position.get("epoch"), "batch": position.get("batch"),
                       "features": features})
    return result


def fit_leaves(fit):
    """The arrays fit slices its batches from, in the kept batch's leaf
    order, or None when they are not all NumPy arrays."""
    leaves = [a for a in tf.nest.flatten((fit["x"], fit["y"], fit["sample_weight"]))
              if a is not None]
    if not leaves or not all(isinstance(a, np.ndarray) for a in leaves):
        return None
    return leaves


def batch_at(leaves, batch, batch_size, like):
    """The batch `batch` of an epoch of `leaves` (shuffle=False), cast like
    the kept batch `like`."""
    start = batch * batch_size
    return [np.asarray(leaf[start:start + batch_size]).astype(np.asarray(k).dtype)
            for leaf, k in zip(leaves, like)]


def same_batch(a, b):
    return len(a) == len(b) and all(
        np.shape(x) == np.shape(y) and np.array_equal(x, y, equal_nan=True) for x, y in zip(a, b))


def locate(fit, arrays, model):
    """Where the kept batch is in the user's data: {"epoch", "batch",
    "start" (index into x of its row 0, or None), "note"}."""
    if fit is None:
        return {"epoch": None, "batch": None, "start": None,
                "note": "not inside model.fit: where the batch came from is not known"}
    epoch, batch = int(fit["epoch"]), int(fit["begin_step"])
    position = {"epoch": epoch, "batch": batch, "start": None}
    leaves = fit_leaves(fit)
    if leaves is None:
        position["note"] = ("x is not a NumPy array (a tf.data.Dataset, a generator or tensors): "
                            "the index into x cannot be known")
        return position
    if fit["shuffle"] is not False:
        position["note"] = (f"fit(shuffle={fit['shuffle']!r}) reorders the rows: the index into x "
                            "cannot be known (fit(shuffle=False) makes it known)")
        return position
    if (getattr(model, "steps_per_execution", 1) or 1) != 1 or len(leaves) != len(arrays):
        position["note"] = "the batch is not a plain slice of x: the index into x cannot be known"
        return position
    batch_size = int(fit["batch_size"] or 32)
    count = int(getattr(fit["epoch_iterator"], "num_batches", None) or 0)
    candidates = [batch] + [b for b in range(count) if b != batch]
    for b in candidates:
        if same_batch(batch_at(leaves, b, batch_size, arrays), arrays):
            # Found elsewhere than fit's position: the failure was seen steps
            # later (an XLA-compiled fit polls its alarm), its epoch is unknown.
            position.update(batch=b, epoch=epoch if b == batch else None,
                            start=b * batch_size, batch_size=batch_size)
            position["note"] = (f"x[index]: NumPy x, shuffle=False, batch_size {batch_size}: "
                                f"index = batch * {batch_size} + row"
                                + ("" if b == batch else "; the epoch is not known (the failure "
                                   "was seen some steps later)"))
            return position
    position["note"] = "the batch is not found in x at its position: the index into x cannot be known"
    return position
