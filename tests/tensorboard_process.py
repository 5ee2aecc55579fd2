"""Run a real `tensorboard` process for tests (viewer tests, browser tests).

    with TensorBoardProcess(logdir) as tb:          # starts, waits until it answers
        listing = tb.get_json("/data/plugins_listing")

    tb = TensorBoardProcess(logdir, extra_args=["--load_fast=false"])
    tb.start()                                      # returns at once
    ...                                             # do other work meanwhile
    tb.wait_ready()
    tb.stop()

The process runs in its own session on 127.0.0.1 and a free port; stop()
ends that process group (TensorBoard and its Rust data server, if any) and
nothing else.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

DEFAULT_TIMEOUT = 60.0


def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def tensorboard_command():
    """The installed `tensorboard` console script next to this Python, else
    on PATH, else `python -m tensorboard.main`."""
    here = os.path.join(os.path.dirname(sys.executable), "tensorboard")
    if os.path.exists(here):
        return [here]
    found = shutil.which("tensorboard")
    if found:
        return [found]
    return [sys.executable, "-m", "tensorboard.main"]


def strict_json_loads(text):
    """json.loads that rejects NaN/Infinity/-Infinity literals."""

    def reject(constant):
        raise ValueError(f"non-standard JSON constant {constant!r}")

    return json.loads(text, parse_constant=reject)


def child_processes(pid):
    """[(pid, argv)] of the direct children of `pid` (Linux /proc)."""
    children = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return children
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode("utf-8", "replace")
            # Field 4 is the parent pid; field 2 (comm) may hold spaces/parens.
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid != pid:
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
        except (OSError, ValueError, IndexError):
            continue
        children.append((int(entry), argv))
    return children


class TensorBoardProcess:
    def __init__(
        self,
        logdir,
        extra_args=(),
        host="127.0.0.1",
        port=None,
        log_path=None,
        env=None,
        timeout=DEFAULT_TIMEOUT,
    ):
        self.logdir = str(logdir)
        self.extra_args = list(extra_args)
        self.host = host
        self.port = port
        self.log_path = log_path
        self.env = env
        self.timeout = timeout
        self.process = None
        self._log_file = None
        self._ready = False

    # ------------------------------------------------------------ lifecycle

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    def start(self):
        if self.process is not None:
            return self
        if self.port is None:
            self.port = free_port(self.host)
        if self.log_path is None:
            self.log_path = os.path.join(
                os.path.dirname(os.path.abspath(self.logdir)),
                f"tensorboard-{self.port}.log",
            )
        self._log_file = open(self.log_path, "wb")
        argv = tensorboard_command() + [
            "--logdir",
            self.logdir,
            "--port",
            str(self.port),
            "--host",
            self.host,
        ] + self.extra_args
        env = dict(os.environ if self.env is None else self.env)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        return self

    def log_tail(self, chars=4000):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")[-chars:]
        except (OSError, TypeError):
            return ""

    def wait_ready(self, timeout=None):
        """Poll until /data/plugins_listing answers 200."""
        if self._ready:
            return self
        self.start()
        deadline = time.monotonic() + (timeout or self.timeout)
        last_error = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"tensorboard exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(
                    self.url + "/data/plugins_listing", timeout=5
                ) as response:
                    if response.status == 200:
                        self._ready = True
                        return self
            except (urllib.error.URLError, OSError) as error:
                last_error = error
            time.sleep(0.2)
        raise TimeoutError(
            f"tensorboard on {self.url} not ready after {timeout or self.timeout}s "
            f"({last_error}):\n{self.log_tail()}"
        )

    def terminate(self):
        """Ask the process group to exit (SIGTERM); see stop()."""
        if self.process is not None and self.process.poll() is None:
            try:
                # Our own session: TensorBoard and the data server it spawned.
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def stop(self, grace=10):
        """SIGTERM the process group, SIGKILL it after `grace` seconds.
        TensorBoard takes a few seconds to run its exit handlers: to stop
        several, call terminate() on all first (or use stop_all)."""
        if self.process is None:
            return
        self.terminate()
        try:
            self.process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.process.wait(timeout=10)
        # The Rust data server runs with --die-after-stdin: it exits with
        # TensorBoard.
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self):
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------ HTTP

    def get(self, path, timeout=30):
        """(status, headers, body bytes) of GET path; HTTP errors included."""
        request = urllib.request.Request(self.url + path)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def get_json(self, path, expect_status=200):
        status, _, body = self.get(path)
        if status != expect_status:
            raise AssertionError(f"GET {path}: {status} (wanted {expect_status}): {body[:500]!r}")
        return strict_json_loads(body.decode("utf-8"))

    def wait_for(self, predicate, path, timeout=None, interval=0.25):
        """Poll GET path (JSON) until predicate(value) is true; return value.
        Data providers load event files in the background after start."""
        deadline = time.monotonic() + (timeout or self.timeout)
        value = None
        while True:
            status, _, body = self.get(path)
            if status == 200:
                value = strict_json_loads(body.decode("utf-8"))
                if predicate(value):
                    return value
            if time.monotonic() >= deadline:
                raise TimeoutError(f"GET {path} never satisfied the condition; last: {value!r:.1000}")
            time.sleep(interval)

    def children(self):
        return child_processes(self.process.pid) if self.process else []


def stop_all(processes, grace=10):
    """Stop several TensorBoardProcess at once (their exits overlap)."""
    processes = list(processes)
    for process in processes:
        process.terminate()
    for process in processes:
        process.stop(grace=grace)
