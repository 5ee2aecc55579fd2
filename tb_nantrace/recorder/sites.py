"""Trace-time facts about an op: phase, Keras layer, variable, user frames.

Collected once when a graph op is created (cheap: tracing happens once), so
that at run time a failing check only has to say "site 17 fired".
"""

import dataclasses
import sys
import weakref
from typing import Any, List, Optional

import keras

from tb_nantrace.recorder import creation
from tb_nantrace.recorder import frames as frames_lib

_BACKPROP_FILES = ("tensorflow/python/eager/backprop", "tensorflow/python/eager/imperative_grad")
_OPTIMIZER_DIR = "keras/src/optimizers/"
_METRICS_DIR = "keras/src/metrics/"
GRADIENT_SCOPE = "gradient_tape/"


@dataclasses.dataclass
class OpSite:
    id: int
    op_type: str
    op_name: str
    phase: str
    layer: Optional[str]
    variable: Optional[str]
    frames: Any  # user StackFrame protos, outermost first; a callable until stack()
    input_names: List[str]
    output_names: List[str]
    note: str = ""
    graph_only: bool = False  # registered in a guarded trace, never checked
    frame_layer: Optional[str] = None  # the Keras layer found on the stack
    graph: Optional[Any] = None  # weakref to the FuncGraph holding the op
    # Where the user made the built-in layer/loss the op was created in
    # (creation.py): a StackFrame, None, or a callable until source().
    created: Any = None

    def stack(self):
        """The user's frames, built on first use: reading an op's traceback and
        source lines is most of what registering an op costs at trace time,
        and only a failing op (or a replay match) needs them."""
        if callable(self.frames):
            self.frames = self.frames()
        return self.frames

    def source(self):
        """The user's line an incident names: when the op was created inside
        a built-in Keras layer or loss, the line that created the layer or
        passed the loss (the innermost frame of stack() stays the call
        site); otherwise the innermost user frame. None without one."""
        frames = self.stack()
        if callable(self.created):
            try:
                self.created = self.created()
            except Exception:  # never let finding a line break recording
                self.created = None
        if self.created is not None and frames:
            return self.created
        return frames[-1] if frames else None

    def match_key(self):
        """What identifies the same op in a graph trace and an eager replay
        (name scopes differ between the two, the Python stack does not)."""
        frames = self.stack()
        where = (frames[-1].file, frames[-1].line) if frames else ("", 0)
        return (self.op_type, self.phase, self.frame_layer) + where


def _variable_name(variable):
    return getattr(variable, "path", None) or getattr(variable, "name", None)


_BACKWARD, _OPTIMIZER, _METRICS, _USER = 1, 2, 3, 4
_code_kinds = {}  # code object -> what its file says about the op being created


def _code_kind(code):
    kind = _code_kinds.get(code)
    if kind is None:
        filename = code.co_filename.replace("\\", "/")
        if any(part in filename for part in _BACKPROP_FILES):
            kind = _BACKWARD
        elif _OPTIMIZER_DIR in filename:
            kind = _OPTIMIZER
        elif _METRICS_DIR in filename:
            kind = _METRICS
        elif frames_lib.is_user_file(code.co_filename):
            kind = _USER
        else:
            kind = 0
        _code_kinds[code] = kind
    return kind


def _keras_owner(owner):
    """creation.Owner of a built-in layer (not a model) or loss, else None."""
    if isinstance(owner, keras.losses.Loss):
        kind = "loss"
    elif isinstance(owner, keras.layers.Layer) and not isinstance(owner, keras.Model):
        kind = "layer"
    else:
        return None
    return creation.Owner(kind, type(owner).__name__, str(getattr(owner, "name", "") or ""))


def trace_context(start_depth=2):
    """(phase, innermost Keras layer name, variable being updated, built-in
    owner) from the Python stack of the code creating an op. The owner is
    the creation.Owner of the innermost built-in layer or loss whose call is
    deeper than every user frame (the op is Keras' own code), else None.
    Runs for every op traced, over a deep stack: what a file says is looked
    up once per code object."""
    frame = sys._getframe(start_depth)
    backward = optimizer = metrics = False
    layer = variable = None
    builtin, user_seen = None, False
    while frame is not None:
        code = frame.f_code
        kind = _code_kind(code)
        if kind == _USER:
            user_seen = True
        elif not user_seen and builtin is None and code.co_name in ("call", "__call__"):
            builtin = _keras_owner(frame.f_locals.get("self"))
        if kind == _BACKWARD:
            backward = True
        elif kind == _OPTIMIZER:
            optimizer = True
            if variable is None and "update_step" in code.co_name:
                variable = _variable_name(frame.f_locals.get("variable"))
        elif kind == _METRICS:
            metrics = True
        if layer is None and code.co_name in ("call", "__call__"):
            owner = frame.f_locals.get("self")
            if isinstance(owner, keras.layers.Layer) and not isinstance(owner, keras.Model):
                layer = owner.name
        frame = frame.f_back
    if backward:
        phase = "backward"
    elif optimizer:
        phase = "optimizer"
    elif metrics:
        phase = "other"
    else:
        phase = "forward"
    return phase, layer, variable, builtin


def layer_of_variable(path):
    """"sequential/hidden/kernel" -> "hidden"."""
    if not path:
        return None
    parts = path.split("/")
    return parts[-2] if len(parts) >= 2 else None


class SiteRegistry:
    """All instrumented ops of a recording, plus the map from forward name
    scopes to Keras layers used to attribute gradient ops."""

    def __init__(self, redact=False):
        self.redact = redact
        self.sites = []
        self._scope_layers = {}
        self._by_op = {}  # (id(graph), op name) -> OpSite

    def add(self, op_type, op_name, inputs, outputs, raw_frames, graph=None):
        site = self.build(op_type, op_name, inputs, outputs, raw_frames, depth=4)
        if graph is not None:
            site.graph = weakref.ref(graph)
            self._by_op[(id(graph), op_name)] = site
        self.sites.append(site)
        return site

    def describe(self, graph, op):
        """(layer, phase) of a graph op: from its site when it was checked or
        registered, else from its name scope."""
        site = self._by_op.get((id(graph), op.name))
        if site is not None:
            return site.layer, site.phase
        scope = op.name.rsplit("/", 1)[0] if "/" in op.name else ""
        if scope.startswith(GRADIENT_SCOPE):
            return self._layer_for_gradient(op.name) or scope[len(GRADIENT_SCOPE):], "backward"
        return self._scope_layers.get(scope, scope or None), None

    def build(self, op_type, op_name, inputs, outputs, raw_frames, depth=3):
        """An OpSite for an op being created (or run eagerly) right now,
        without remembering it."""
        phase, layer, variable, builtin = trace_context(start_depth=depth)
        frame_layer = layer
        scope = op_name.rsplit("/", 1)[0] if "/" in op_name else ""
        if phase == "forward" and scope and layer is not None:
            self._scope_layers.setdefault(scope, layer)
        if phase == "backward" and layer is None:
            layer = self._layer_for_gradient(op_name)
        if phase == "optimizer" and layer is None:
            layer = layer_of_variable(variable)
        if layer is None and phase in ("forward", "backward") and scope:
            layer = scope[len(GRADIENT_SCOPE):] if scope.startswith(GRADIENT_SCOPE) else scope
        return OpSite(
            id=len(self.sites),
            op_type=op_type,
            op_name=op_name,
            phase=phase,
            layer=layer,
            variable=variable,
            frames=self._lazy_frames(raw_frames),
            input_names=[getattr(t, "name", "") or "" for t in inputs],
            output_names=[getattr(t, "name", "") or "" for t in outputs],
            frame_layer=frame_layer,
            created=self._lazy_created(raw_frames, builtin) if builtin else None,
        )

    def _lazy_frames(self, raw_frames):
        """`raw_frames`: (file, line, function) tuples, or a callable giving them."""
        source = raw_frames if callable(raw_frames) else (lambda: raw_frames)
        return lambda: frames_lib.user_frames(source(), redact=self.redact)

    def _lazy_created(self, raw_frames, owner):
        """A callable giving the StackFrame of the user's line that made
        `owner` (creation.find over the user files on the stack), or None."""
        def created():
            raw = [f for f in (raw_frames() if callable(raw_frames) else raw_frames)
                   if frames_lib.is_user_file(f[0])]
            if not raw:
                return None
            call = creation.find(owner, [f[0] for f in reversed(raw)], (raw[-1][0], raw[-1][1]))
            if call is None:
                return None
            return frames_lib.make_frame(call.path, call.line, call.function, redact=self.redact)
        return created

    def graph_site_for(self, eager_site, ordinal):
        """The op of the guarded graph trace that an eager replay op is: the
        `ordinal`-th one with the same key. None when the trace has no such op."""
        key = eager_site.match_key()
        same = [s for s in self.sites if s.graph_only and s.match_key() == key]
        return same[ordinal] if ordinal < len(same) else None

    def add_input(self, op_name, tensor):
        """A function argument: in a custom training loop, the batch."""
        raw = lambda: [(f.filename, f.lineno, f.name) for f in tensor.op.traceback]  # noqa: E731
        graph = tensor.graph
        site = OpSite(
            id=len(self.sites),
            op_type=tensor.op.type,
            op_name=op_name,
            phase="input",
            layer=None,
            variable=None,
            frames=self._lazy_frames(raw),
            input_names=[],
            output_names=[tensor.name],
            graph=weakref.ref(graph),
        )
        self.sites.append(site)
        return site

    def add_guard(self):
        """The optimizer guard saw non-finite gradients that no check caught
        (e.g. an op nantrace cannot instrument)."""
        site = OpSite(len(self.sites), "ApplyGradients", "", "backward", None, None, [], [], [],
                      note="non-finite gradients reached the optimizer; the op that produced "
                      "them could not be instrumented")
        self.sites.append(site)
        return site

    def add_state(self, variable):
        path = _variable_name(variable)
        site = OpSite(len(self.sites), "ReadVariableOp", path or "", "other",
                      layer_of_variable(path), path, [], [], [path or ""])
        self.sites.append(site)
        return site

    def _layer_for_gradient(self, op_name):
        if not op_name.startswith(GRADIENT_SCOPE):
            return None
        parts = op_name[len(GRADIENT_SCOPE):].split("/")
        for end in range(len(parts), 0, -1):
            layer = self._scope_layers.get("/".join(parts[:end]))
            if layer is not None:
                return layer
        return None
