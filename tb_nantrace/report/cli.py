"""`nantrace report LOGDIR [--json]`: where did the first NaN/Inf appear?

The command line only: the logdir is read by report/loader.py (TensorBoard's
own Python data provider, never TensorFlow), and written out by
report/json_report.py or report/text.py.

Exit status: 0 no incident in any run, 1 at least one incident,
2 the logdir is missing, unreadable or holds no nantrace records.
"""

import argparse
import json
import os
import sys

from tb_nantrace import __version__, records
from tb_nantrace.report.json_report import FORMAT, report_json
from tb_nantrace.report.loader import ReportError, load_logdir
from tb_nantrace.report.text import DEFAULT_LIMIT, report_text, terminal_safe

EXIT_HEALTHY = 0
EXIT_INCIDENT = 1
EXIT_ERROR = 2


def _parser():
    parser = argparse.ArgumentParser(
        prog="nantrace",
        description="Find where the first NaN/Inf appeared in recorded training runs.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    report = commands.add_parser(
        "report",
        help="summarise the nantrace records under a logdir",
        description="Summarise the nantrace records under LOGDIR. Exit status: "
        "0 no incident, 1 at least one incident, 2 no nantrace data / bad logdir.",
    )
    report.add_argument("logdir", metavar="LOGDIR")
    report.add_argument(
        "--json", action="store_true", help=f"print one JSON object ({FORMAT})"
    )
    report.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"show full detail for the first N incidents per run "
        f"(default {DEFAULT_LIMIT}, 0 = all)",
    )
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    logdir = args.logdir
    problems = []
    try:
        runs = load_logdir(logdir, problems)
    except ReportError as error:
        print(f"nantrace: {error}", file=sys.stderr)
        return EXIT_ERROR
    if not runs:
        for problem in problems:
            print(f"nantrace: skipped {problem['path']}: {problem['reason']}", file=sys.stderr)
        print(
            f"nantrace: no nantrace records under {logdir}: record a run with "
            f"`with nantrace.record({json.dumps(logdir)}): ...` "
            "(import tb_nantrace as nantrace), "
            "then run this again on that directory.",
            file=sys.stderr,
        )
        return EXIT_ERROR

    if args.json:
        text = records.dumps(report_json(logdir, runs, problems), indent=2)
    else:
        text = terminal_safe(report_text(logdir, runs, limit=max(args.limit, 0),
                                          problems=problems))
    encoding = getattr(sys.stdout, "encoding", None) or "utf-8"
    # Escape what stdout cannot carry (a non-UTF-8 locale, a lone surrogate
    # from a file name) rather than die in print().
    text = text.encode(encoding, "backslashreplace").decode(encoding, "replace")
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `nantrace report ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return EXIT_INCIDENT if any(run["incidents"] for run in runs) else EXIT_HEALTHY


if __name__ == "__main__":
    sys.exit(main())
