"""The names of symbols as LaTeX writes them: checked when a problem is loaded, used by every writer."""

import re

GREEK = {
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "pi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "chi",
    "psi",
    "omega",
}


def symbol_name(name: str) -> str:
    """w4 -> w_4, w12 -> w_{12}, x_2 -> x_{2}, a -> a, alpha -> \\alpha, ab -> \\mathit{ab} (not a times b)."""
    m = re.fullmatch(r"([A-Za-z]+)_?(\d*)", name)
    if not m:
        escaped = name.replace("_", "\\_")
        return f"\\mathit{{{escaped}}}"
    letters, digits = m.groups()
    stem = f"\\{letters}" if letters in GREEK else (letters if len(letters) == 1 else f"\\mathit{{{letters}}}")
    if not digits:
        return stem
    return f"{stem}_{digits}" if len(digits) == 1 else f"{stem}_{{{digits}}}"
