"""Checks what .ci/run built: `python scripts/check_dist.py DIST_DIR`.

The wheel carries the viewer's static files, the .proto beside its generated
module, py.typed, the license and the entry points (the `nantrace` command,
TensorBoard's plugin hook); its metadata has what a package index shows. The
sdist carries the license and the README. Exits non-zero naming what is missing.
"""

import email
import pathlib
import sys
import tarfile
import zipfile

WHEEL_FILES = [
    "tb_nantrace/__init__.py",
    "tb_nantrace/py.typed",
    "tb_nantrace/static/index.js",
    "tb_nantrace/proto/nantrace.proto",
    "tb_nantrace/proto/nantrace_pb2.py",
    "tb_nantrace/plugin/loader.py",
]
METADATA_FIELDS = ["License-Expression", "License-File", "Classifier", "Project-URL", "Keywords"]
SDIST_FILES = ["LICENSE", "README.md", "pyproject.toml"]


def main(dist):
    dist = pathlib.Path(dist)
    (wheel,) = dist.glob("tb_nantrace-*.whl")
    (sdist,) = dist.glob("tb_nantrace-*.tar.gz")
    problems = []
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        problems += [f"wheel lacks {n}" for n in WHEEL_FILES if n not in names]
        if f"{info}/licenses/LICENSE" not in names:
            problems.append("wheel lacks the LICENSE file")
        problems += [f"wheel ships {n}" for n in names if n.startswith(("tests/", "demo/"))]
        metadata = email.message_from_bytes(archive.read(f"{info}/METADATA"))
        entry_points = archive.read(f"{info}/entry_points.txt").decode()
    problems += [f"wheel metadata lacks {f}" for f in METADATA_FIELDS if not metadata.get_all(f)]
    for needed in ("nantrace = tb_nantrace.report.cli:main", "[tensorboard_plugins]"):
        if needed not in entry_points:
            problems.append(f"wheel entry points lack {needed!r}")
    with tarfile.open(sdist) as archive:
        top = archive.getnames()[0].split("/")[0]
        names = set(archive.getnames())
        problems += [f"sdist lacks {n}" for n in SDIST_FILES if f"{top}/{n}" not in names]
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"{wheel.name}: {len(WHEEL_FILES)} key files, LICENSE, entry points, "
              f"metadata ({', '.join(METADATA_FIELDS)}); {sdist.name}: {', '.join(SDIST_FILES)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
