"""The committed nantrace_pb2.py is what `python -m tb_nantrace.proto.generate`
makes of nantrace.proto, so a field added to the .proto without regenerating
fails here. (That it loads on the oldest supported protobuf is checked by
.ci/run in its own virtualenvs.)"""

import importlib.util
import os

import pytest

from tb_nantrace.proto import generate

IN_CI = os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")
if importlib.util.find_spec("grpc_tools") is None and not IN_CI:
    pytest.skip("grpcio-tools is not installed (pip install -e '.[test]')", allow_module_level=True)


def test_committed_nantrace_pb2_is_what_the_generator_makes_of_nantrace_proto():
    assert generate.main(["--check"]) == 0


def test_generated_module_has_no_protoc_runtime_version_check():
    with open(generate.TARGET, encoding="utf-8") as f:
        text = f.read()
    assert "runtime_version" not in text
    assert "google.protobuf.internal import builder" in text
