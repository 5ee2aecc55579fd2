"""What a package index and `pip install tb-nantrace` users see: the version
the command prints, the license file, and README images that load from the
repository (a relative path is broken on a package index page)."""

import importlib.metadata
import os
import re
import subprocess
import sys

import pytest

import tb_nantrace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
tomllib = pytest.importorskip("tomllib")  # Python >= 3.11


def _pyproject():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)["project"]


def test_nantrace_version_prints_the_installed_package_version():
    done = subprocess.run([sys.executable, "-m", "tb_nantrace.report.cli", "--version"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"nantrace {tb_nantrace.__version__}"
    assert tb_nantrace.__version__ == importlib.metadata.version("tb-nantrace")


def test_the_license_file_is_the_apache_2_text_the_metadata_names():
    assert _pyproject()["license"] == "Apache-2.0"
    with open(os.path.join(ROOT, "LICENSE"), encoding="utf-8") as f:
        text = f.read()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_readme_images_are_absolute_urls_into_the_repository_of_the_metadata():
    repository = _pyproject()["urls"]["Repository"]
    owner_name = repository.removeprefix("https://github.com/")
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        images = re.findall(r"!\[[^\]]*\]\(([^)\s]+)", f.read())
    assert images, "the README shows screenshots"
    prefix = f"https://raw.githubusercontent.com/{owner_name}/main/"
    for url in images:
        assert url.startswith(prefix), url
        assert os.path.isfile(os.path.join(ROOT, url.removeprefix(prefix))), url


def test_package_metadata_has_classifiers_keywords_and_project_urls():
    project = _pyproject()
    assert "Typing :: Typed" in project["classifiers"]
    assert {"tensorflow", "keras", "tensorboard"} <= set(project["keywords"])
    assert {"Homepage", "Repository", "Issues"} <= set(project["urls"])
