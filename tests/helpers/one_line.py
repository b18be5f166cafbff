"""What every bad-input test checks of `stepper`: it runs in-process, and a mistake is one located line."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from stepper.cli import main


@dataclass
class Case:
    """One bad input: its test id, the file's text, and what its one-line error must say."""

    id: str
    text: str
    needles: tuple[str, ...]  # regular expressions that must all occur in the message after "FILE: "

    def __str__(self) -> str:
        return self.id


def run_stepper(capsys, command: str, *args) -> tuple[int, str, str]:
    """`stepper COMMAND ARGS` in-process: exit status, stdout, stderr. An uncaught exception fails the test."""
    try:
        code = main([command, *map(str, args)])
    except SystemExit as e:  # argparse
        code = e.code
    except Exception as e:  # noqa: BLE001 - a traceback is exactly what the contract forbids
        pytest.fail(f"uncaught {type(e).__name__} (a traceback for the user): {e}")
    out, err = capsys.readouterr()
    return code, out, err


def check_needles(message: str, needles) -> None:
    for needle in needles:
        assert re.search(needle, message), f"{needle!r} not found in the message {message!r}"


def assert_one_line(code: int, err: str, prefix: str, needles) -> str:
    """Status 2 and one stderr line starting with `prefix`; returns the message after it."""
    assert "Traceback" not in err, err
    assert code == 2, f"exit status {code}, stderr: {err!r}"
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one error line, found {len(lines)}: {err!r}"
    assert lines[0].startswith(prefix), f"{lines[0]!r} does not start with {prefix!r}"
    message = lines[0][len(prefix) :]
    check_needles(message, needles)
    return message


def assert_one_error(code: int, err: str, file: Path, needles) -> str:
    """One line naming `file`, then the place and the message."""
    return assert_one_line(code, err, f"stepper: error: {file}: ", needles)
