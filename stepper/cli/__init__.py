"""The command line: `stepper solve [PROBLEM ...]`, `stepper check PROBLEM WORKING` and `stepper exam TEMPLATE`.

`main(argv)` parses (arguments.py), runs the one command chosen (solve.py, check.py, exam.py, each imported only
when chosen) and turns every error into one line on stderr, in this one place; `run()` is the `stepper` process
around it. May import any part of stepper; only stepper/__main__.py and the `stepper` script import it.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import NoReturn

from .arguments import parser

__all__ = ["main", "run"]


def main(argv: list[str] | None = None) -> int:
    """Run `stepper ARGV`: 0 when all went well, 2 on bad input (in one line), 130 when interrupted."""
    args = parser().parse_args(argv)
    # stepper's arrays are small: a pool of BLAS threads, which numpy's OpenBLAS starts on import (40 ms here),
    # costs more than it saves. A value the user set is kept.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    # Imported once the arguments are parsed: --help, --version and a mistyped flag load nothing more.
    from ..core.errors import StepperError
    from ..core.text import plain_text

    try:
        return importlib.import_module(f"{__name__}.{args.command}").run(args)
    except StepperError as e:
        print(plain_text(f"stepper: error: {e}"), file=sys.stderr)
        return 2
    except OSError as e:  # a fault no check foresaw (a folder that cannot be read): one line, not a traceback
        where = f"{e.filename}: " if e.filename else ""
        print(plain_text(f"stepper: error: {where}{e.strerror or e}"), file=sys.stderr)
        return 2
    except (RecursionError, MemoryError) as e:  # input that no limit foresaw: one line, not a traceback
        what = "input nested too deeply" if isinstance(e, RecursionError) else "out of memory"
        print(f"stepper: error: {what}: make the problem smaller", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def run() -> NoReturn:
    """`stepper` as a process: main() with the command line, then an exit that skips the interpreter's teardown.

    Every file stepper writes is complete and closed when main() returns, and nothing of the command is left to
    run at exit; tearing down the ~300 modules loaded (numpy, Jinja) and collecting their objects would take
    50 ms here, 10% of the tutorial's whole command, for nothing the user sees. Output on stdout and stderr is
    flushed first; a reader that went away (`stepper solve | head -1`) is not an error."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or a closed stream: what could be written was
            pass
    os._exit(code)
