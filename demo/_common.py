"""Small helpers shared by the demo scenarios (no TensorFlow import here)."""

import ast
from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent


def line_of(module_file, snippet):
    """1-based line number of the single code line of `module_file` containing `snippet`.

    The module docstring and the lines that call these helpers are skipped. The
    scenarios use it to point at the line responsible for the failing op, so
    that their `EXPECTED` record stays right when the file is edited.
    """
    text = Path(module_file).read_text(encoding="utf-8")
    tree = ast.parse(text)
    first_code_line = 1
    if ast.get_docstring(tree) is not None:
        first_code_line = tree.body[0].end_lineno + 1
    hits = [
        number
        for number, line in enumerate(text.splitlines(), start=1)
        if number >= first_code_line
        and snippet in line
        and "source_ref(" not in line
        and "line_of(" not in line
    ]
    if len(hits) != 1:
        raise LookupError(f"{snippet!r} occurs {len(hits)} times in {module_file}")
    return hits[0]


def source_ref(module_file, snippet):
    """'demo/<file>.py:<line>' for the code line containing `snippet`."""
    return f"demo/{Path(module_file).name}:{line_of(module_file, snippet)}"
