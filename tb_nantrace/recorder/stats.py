"""Numbers that explain a NaN/Inf: summary statistics of host-side arrays."""

import numpy as np

from tb_nantrace.proto import nantrace_pb2


def tensor_stats(name, array):
    """TensorStats for one numpy array (any numeric dtype; others get shape only)."""
    array = np.asarray(array)
    stats = nantrace_pb2.TensorStats(
        name=name, dtype=str(array.dtype), shape=list(array.shape), size=int(array.size)
    )
    if array.size == 0 or not (
        np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_
    ):
        return stats
    values = array.astype(np.float64, copy=False).ravel()
    nan = np.isnan(values)
    posinf = np.isposinf(values)
    neginf = np.isneginf(values)
    stats.nan_count = int(nan.sum())
    stats.posinf_count = int(posinf.sum())
    stats.neginf_count = int(neginf.sum())
    stats.zero_count = int((values == 0).sum())
    stats.negative_count = int((values < 0).sum())
    not_nan = values[~nan]
    if not_nan.size:
        stats.min = float(not_nan.min())
        stats.max = float(not_nan.max())
    else:
        stats.min = stats.max = float("nan")
    finite = values[np.isfinite(values)]
    if finite.size:
        stats.max_abs_finite = float(np.abs(finite).max())
        nonzero = np.abs(finite[finite != 0])
        if nonzero.size:
            stats.min_abs_nonzero = float(nonzero.min())
    return stats


def nonfinite_kind(arrays):
    """"nan", "inf", "nan_and_inf", or None when every value is finite."""
    has_nan = has_inf = False
    for array in arrays:
        array = np.asarray(array)
        if not np.issubdtype(array.dtype, np.floating) and not np.issubdtype(
            array.dtype, np.complexfloating
        ):
            continue
        has_nan = has_nan or bool(np.isnan(array).any())
        has_inf = has_inf or bool(np.isinf(array).any())
    if has_nan and has_inf:
        return "nan_and_inf"
    if has_nan:
        return "nan"
    if has_inf:
        return "inf"
    return None


def first_nonfinite_location(array):
    """(batch_index, [feature indices]) of the first non-finite element."""
    array = np.asarray(array)
    bad = np.argwhere(~np.isfinite(array))
    if bad.size == 0:
        return None
    index = [int(i) for i in bad[0]]
    if not index:
        return 0, []
    return index[0], index[1:]
