"""Untrusted text (student names, titles, file names) made plain before it is shown or written anywhere.

A terminal obeys escape sequences, and bidi controls reorder what a reader sees,
so neither may pass from a working file or a file name into a terminal line, a
report, a CSV cell or a file's mark. Each output format escapes its own markup
on top of this.
"""

from __future__ import annotations

import unicodedata

# Control characters (ESC, NUL, BEL) and lone surrogates (a file name's undecodable bytes) would act on a
# terminal or stop an encoder: a visible "?" shows something was there.
_SHOWN = {"Cc", "Cs"}
# Format characters (bidi overrides and isolates, zero-width joiners, soft hyphens) are invisible anyway: dropped.
_DROPPED = {"Cf"}


def plain_text(text: object) -> str:
    """`text` with no control, format, surrogate or line-break character: safe on one line of a terminal."""
    text = str(text)
    if text.isprintable():  # the common case, at once: no Cc, Cf, Cs, Zl, Zp (and no separator but " ")
        return text
    return "".join(_plain(ch) for ch in text)


def _plain(ch: str) -> str:
    if ch.isprintable():
        return ch
    if ch.isspace():  # line and paragraph breaks of every kind, tabs: a space keeps the text on one line
        return " "
    category = unicodedata.category(ch)
    if category in _DROPPED:
        return ""
    if category in _SHOWN:
        return "?"
    return ch  # unassigned or private use: harmless, kept
