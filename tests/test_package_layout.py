"""The package's layout keeps the promises a newcomer relies on: imports run
one way (no cycle), no module is too long to read, every private Keras /
TensorFlow access is in recorder/compat.py, and no module writes another
object's private state. Pure source reading: no TensorFlow needed."""

import ast
import os
import re

import pytest

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tb_nantrace")
GENERATED = ("_pb2.py",)
MAX_LINES = 400
PRIVATE_ACCESS = re.compile(
    r"keras\.src|tensorflow\.python|\._flatten_layers|\._distribute_strategy|\._compute_loss"
    r"|\._trainable_variables"
)


def _modules():
    for root, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py") and not name.endswith(GENERATED):
                path = os.path.join(root, name)
                relative = os.path.relpath(path, os.path.dirname(PACKAGE))[:-3]
                module = relative.replace(os.sep, ".").removesuffix(".__init__")
                yield module, path


MODULES = dict(_modules())


def _imports(module, path):
    """The tb_nantrace modules `module` imports, anywhere in its body."""
    found = set()
    for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            names = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for name in names:
            while name and name not in MODULES:
                name = name.rpartition(".")[0]
            if name and name != module and name != "tb_nantrace":
                found.add(name)
    return found


def test_no_module_of_the_package_takes_part_in_an_import_cycle():
    graph = {module: _imports(module, path) for module, path in MODULES.items()}
    cycles = []

    def visit(module, stack, done):
        if module in stack:
            cycles.append(stack[stack.index(module):] + [module])
            return
        if module in done:
            return
        for imported in sorted(graph[module]):
            visit(imported, stack + [module], done)
        done.add(module)

    done = set()
    for module in sorted(graph):
        visit(module, [], done)
    assert cycles == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_is_short_enough_to_read(module):
    with open(MODULES[module], encoding="utf-8") as source:
        assert sum(1 for _ in source) <= MAX_LINES


def test_private_keras_and_tensorflow_access_lives_only_in_the_compat_module():
    offenders = {
        module for module, path in MODULES.items()
        if module != "tb_nantrace.recorder.compat"
        and PRIVATE_ACCESS.search(open(path, encoding="utf-8").read())
    }
    assert offenders == set()


def test_no_module_writes_the_private_state_of_another_object():
    writes = []
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            targets = node.targets if isinstance(node, ast.Assign) else (
                [node.target] if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else [])
            for target in targets:
                if (isinstance(target, ast.Attribute) and target.attr.startswith("_")
                        and not target.attr.startswith("__")
                        and not (isinstance(target.value, ast.Name)
                                 and target.value.id in ("self", "cls"))):
                    writes.append(f"{module}:{node.lineno} .{target.attr}")
    assert writes == []
