"""Writes docs/nantrace_in_jupyter.ipynb (outputs empty; CI executes it:
tests/test_notebook.py). Edit the cells here, run `python scripts/make_notebook.py`,
commit both."""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

TARGET = Path(__file__).resolve().parent.parent / "docs" / "nantrace_in_jupyter.ipynb"

CELLS = [
    new_markdown_cell(
        "# tb-nantrace in Jupyter\n"
        "\n"
        "Record a Keras training that turns NaN, read the diagnosis, and open the\n"
        "**NaN Trace** tab of TensorBoard inside the notebook. The model is the\n"
        "repository's `bce_saturation` demo: a hand-written binary cross-entropy on\n"
        "a sigmoid that saturates, because one input feature is in dollars.\n"
        "\n"
        "Needs `pip install 'tb-nantrace[tensorflow]'` and a clone of the\n"
        "repository (for `demo/`); run it from the repository root or from `docs/`."
    ),
    new_code_cell(
        "import os\n"
        "import sys\n"
        "\n"
        "if os.path.isdir(\"../demo\"):  # opened from docs/: the repository root holds demo/\n"
        "    sys.path.insert(0, os.path.abspath(\"..\"))\n"
        "\n"
        "from demo import bce_saturation  # imports TensorFlow without its startup log\n"
        "import tb_nantrace as nantrace\n"
        "\n"
        "LOGDIR = \"logs/notebook\""
    ),
    new_markdown_cell(
        "Train inside `nantrace.record(...)`: the cell that trains is the one to wrap.\n"
        "At the first NaN/Inf the training stops cleanly and a short diagnosis is printed."
    ),
    new_code_cell(
        "model, x, y, fit_kwargs = bce_saturation.build()\n"
        "with nantrace.record(f\"{LOGDIR}/bce_saturation\"):\n"
        "    history = model.fit(x, y, **fit_kwargs)"
    ),
    new_markdown_cell("The same report as `nantrace report logs/notebook` in a terminal:"),
    new_code_cell(
        "from tb_nantrace.report.cli import main as nantrace_cli\n"
        "\n"
        "status = nantrace_cli([\"report\", LOGDIR])  # 1: an incident was found"
    ),
    new_markdown_cell(
        "TensorBoard in the notebook; choose **NaN Trace** in its tab bar (or the\n"
        "menu under *Inactive*). The origin panel shows the failing op, its layer and\n"
        "the line of the loss that created it."
    ),
    new_code_cell("%load_ext tensorboard\n%tensorboard --logdir {LOGDIR}"),
]


def main():
    notebook = new_notebook(cells=CELLS, metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"},
    })
    for index, cell in enumerate(notebook.cells):  # stable ids: no diff on rerun
        cell["id"] = f"cell-{index}"
    nbformat.validate(notebook)
    TARGET.write_text(nbformat.writes(notebook) + "\n", encoding="utf-8")
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
