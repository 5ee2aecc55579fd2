"""Where the user made the built-in Keras layer or loss an op came from.

An op created inside a built-in layer (Dense's MatMul, its activation) or
loss ("mse" given to compile) has no user frame of its own: the innermost
one is the `model.fit(...)` line, the call site. The line that explains it
is the one that created the layer, or the `compile(...)` that passed the
loss. Python keeps no record of where an object was made, and models are
usually built before `record()` starts, so that line is found at an
incident (never on a healthy step) by reading the user's files on the
stack: a call to the layer's class with its `name=`, else the only call to
that class, else (a loss) the `compile(...)` nearest before the call site.
Anything unclear gives None and the call site stays the source.

Pure Python (ast): no TensorFlow, nothing raised to the caller.
"""

import ast
import os
from typing import NamedTuple, Optional

MAX_FILE_BYTES = 2_000_000  # larger files are not parsed
# Loss classes that compile makes from a string or function: the user wrote
# no call to them, only the compile(...) that passed the loss.
COMPILE_MADE = {"LossFunctionWrapper", "CompileLoss"}


class Owner(NamedTuple):
    """The built-in Keras object whose code created an op."""

    kind: str  # "layer" | "loss"
    class_name: str
    name: str


class Call(NamedTuple):
    path: str
    line: int
    callee: str  # the called name: Dense for layers.Dense(...), compile for model.compile(...)
    name: Optional[str]  # its name="..." keyword, if a string constant
    function: str  # the function the call is in ("<module>" at top level)


_parsed = {}  # (path, mtime_ns, size) -> [Call]


def _calls(path):
    try:
        stat = os.stat(path)
        key = (path, stat.st_mtime_ns, stat.st_size)
        if key not in _parsed:
            _parsed[key] = _read_calls(path) if stat.st_size <= MAX_FILE_BYTES else []
        return _parsed[key]
    except (OSError, ValueError):
        return []


def _read_calls(path):
    try:
        with open(path, "rb") as f:
            tree = ast.parse(f.read(), filename=path)
    except (SyntaxError, ValueError, RecursionError, OSError):
        return []
    found = []

    def visit(node, function):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = node.name
        if isinstance(node, ast.Call):
            callee = (node.func.attr if isinstance(node.func, ast.Attribute)
                      else node.func.id if isinstance(node.func, ast.Name) else None)
            if callee:
                name = next((k.value.value for k in node.keywords if k.arg == "name"
                             and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str)),
                            None)
                found.append(Call(path, node.lineno, callee, name, function))
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    try:
        visit(tree, "<module>")
    except RecursionError:
        return []
    return found


def find(owner, files, call_site):
    """The Call that created `owner` (an Owner) in `files` (the user's
    source files on the stack, innermost first), or None. `call_site`:
    (path, line) of the innermost user frame."""
    calls = [call for path in dict.fromkeys(files) for call in _calls(path)]
    of_class = [c for c in calls if c.callee == owner.class_name]
    named = [c for c in of_class if c.name == owner.name]
    if len(named) == 1:
        return named[0]
    if len(of_class) == 1 and owner.class_name not in COMPILE_MADE:
        return of_class[0]
    if owner.kind != "loss" or of_class:
        return None
    compiles = [c for c in calls if c.callee == "compile"]
    before = [c for c in compiles if c.path == call_site[0] and c.line <= call_site[1]]
    if before:
        return max(before, key=lambda c: c.line)
    return compiles[0] if len(compiles) == 1 else None
