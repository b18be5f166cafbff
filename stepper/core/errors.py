"""The one error type a user sees: a file, a place in it, and what was expected."""

from __future__ import annotations

import difflib
import re
import unicodedata

# Characters that would break the one line or rewrite the terminal: C0/C1 controls (newline, ESC, NUL),
# format characters (bidi overrides U+202A-U+202E, isolates U+2066-U+2069, zero-width ones) and the
# line and paragraph separators. Each is written escaped, as Python writes it in a string literal.
_HIDDEN_CATEGORIES = ("Cc", "Cf", "Zl", "Zp")
_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_MAYBE_HIDDEN = re.compile(r"[^\x20-\x7e]")  # only these need a look at their category


class StepperError(Exception):
    """Bad input. Printed as one line, `FILE: PLACE: MESSAGE`, and the CLI exits with 2."""

    def __init__(self, message: str, *, file: str | None = None, place: str | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.place = place

    def located(self, *, file: str | None = None, place: str | None = None) -> StepperError:
        """The same error with a file or an outer place filled in (inner places stay last)."""
        if place and self.place:
            place = f"{place}, {self.place}"
        return StepperError(self.message, file=self.file or file, place=place or self.place)

    def __str__(self) -> str:
        parts = [p for p in (self.file, self.place) if p]
        return visible(": ".join(parts + [self.message]))


def visible(text: str) -> str:
    """`text` on one line, with every control or invisible formatting character written as an escape."""
    return _MAYBE_HIDDEN.sub(_escape, str(text))


def _escape(match: re.Match) -> str:
    char = match[0]
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    if unicodedata.category(char) not in _HIDDEN_CATEGORIES:
        return char
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def suggestion(word, choices) -> str:
    """ "did you mean 'conv2d'? " for a name that differs from one of `choices` only in case, or is close
    to one (a typo); "" when none is near enough to be a useful guess."""
    if not isinstance(word, str) or not word or len(word) > 100:  # no name is that long; difflib would be slow
        return ""
    folded = {c.casefold(): c for c in sorted(choices)}
    match = folded.get(word.casefold())
    if match is None:
        close = difflib.get_close_matches(word.casefold(), list(folded), n=1)
        match = folded[close[0]] if close else None
    return f"did you mean {match!r}? " if match is not None and match != word else ""
