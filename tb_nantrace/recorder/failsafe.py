"""nantrace fails open.

An unexpected error in nantrace's own code (tracing the guard, building the
health row, checking an op, replaying, writing) must never be the reason a
training run fails. Each hook runs its own part under `fail_open`: the error
is said once (stderr and the run info, through Recording.note) and the hook
falls back to what the code would do without nantrace.

The user's code runs inside those hooks too (the model's train_step, its
layers, the optimizer's update). Its errors are not nantrace's: code called
through `users_code()` marks what it raises, and fail_open lets marked errors
and nantrace's own control flow (NonFiniteError and subclasses) through
unchanged.
"""

import contextlib

import tb_nantrace

_USER_MARK = "_nantrace_users_error"


@contextlib.contextmanager
def users_code():
    """Around a call of the user's (or Keras's) code from a hook."""
    try:
        yield
    except Exception as error:
        try:
            setattr(error, _USER_MARK, True)
        except AttributeError:  # an exception type with __slots__: let it through as is
            pass
        raise


class ControlFlow(Exception):
    """nantrace's own control flow (e.g. a replay stopping at its origin):
    never an internal error."""


def passes_through(error):
    return getattr(error, _USER_MARK, False) or isinstance(
        error, (tb_nantrace.NonFiniteError, ControlFlow))


class InternalError:
    """Result of `fail_open`: `failed` says whether the block raised."""

    def __init__(self):
        self.failed = False


@contextlib.contextmanager
def fail_open(note, where):
    """Run nantrace's part `where`; on an unexpected error say so once with
    `note` (Recording.note) and carry on (the caller checks `.failed` and
    falls back)."""
    outcome = InternalError()
    try:
        yield outcome
    except Exception as error:
        if passes_through(error):
            raise
        outcome.failed = True
        if note is not None:
            note(
                f"internal error in {where} ({type(error).__name__}: {error}); nantrace left it "
                "out and training went on as it would without nantrace — please report this")
