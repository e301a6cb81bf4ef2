"""The ``frnet-app`` console script (and ``python -m frnet``): the signal policy first, then the CLI.

Importing :mod:`frnet.cli` and what it loads takes from a fraction of a second to seconds on a busy
machine; a Ctrl-C (or SIGTERM, SIGHUP) in that time used to print a ``KeyboardInterrupt``
traceback from inside an import. This module imports only the standard library and
:mod:`frnet.signals`, enters :func:`frnet.signals.process_policy` and only then imports the CLI, so
a signal at any point after the interpreter started is one line and the exit code of
:mod:`frnet.signals`.
"""

from __future__ import annotations

import sys

from . import signals


def main(argv: list[str] | None = None) -> int:
    """Run ``frnet-app`` (:func:`frnet.cli.main`) under the signal and stream policy."""
    with signals.process_policy():
        try:
            from .cli import main as cli_main

            return cli_main(argv)
        except KeyboardInterrupt as exc:
            print(f"frnet-app: error: {signals.describe(exc)}", file=sys.stderr, flush=True)
            return signals.exit_code(exc)
