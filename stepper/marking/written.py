"""A sum as a student wrote it, read and checked term by term against a window's working.

The written sum is read by a small parser of its own (numbers, names, + - * /
^ and parentheses) into sympy values: never by `eval` or sympy's `parse_expr`,
since a working file is untrusted text. Each written term is then matched to
a term of the window (input x weight, or the bias) and given a verdict:

    right        the term is there, as it should be
    zero         a product of 0: adds nothing, harmless
    sign         the right product with the wrong sign
    cell         the right weight times a value from another cell of the window
    value        the right weight times a value the window does not hold
    product      a number that is no product of the window
    extra        a term too many
    missing      a term of the window left out (listed after the written terms)

and the addition itself is checked: the terms' total against the total written
after `=`, and against the right total.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple, NoReturn, TypeVar

from ..core.errors import StepperError
from ..core.numbers import Values, fraction

if TYPE_CHECKING:
    import sympy  # imported where it is used: it is slow to import, and most problems have no written sums

T = TypeVar("T")

# What a student may type for "times", and other marks a pasted formula brings with it.
_REPLACE = [
    ("\u2212", "-"),
    ("\u00d7", "*"),
    ("\u00b7", "*"),
    ("\u22c5", "*"),
    ("\\cdot", "*"),
    ("\\times", "*"),
    ("\\left", ""),
    ("\\right", ""),
    ("$", ""),
    ("{", "("),
    ("}", ")"),
    ("[", "("),
    ("]", ")"),
    ("**", "^"),
]
# A number may be written in scientific notation, 1e-3 or 2.5E4: digits, then e or E, an optional sign and
# digits, with no space anywhere and no letter, digit or _ right after. Anything else keeps e a name, as a
# student writes a symbol e: "2e" and "2 e" are 2 times e, "2e + 3", "2e - 3" and "2*e-3" add 3 to 2e or take 3
# from it, and "2e1x" is 2 times a name e1x. (A hand-written "2e-3" meaning 2e minus 3 is read as 0.002, as any
# calculator reads it.)
_TOKEN = re.compile(r"\s*(?:((?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+(?![A-Za-z0-9_]))?)|([A-Za-z_\\][A-Za-z0-9_]*)|(.))")
_LONGEST = 2000  # a written sum longer than this is not one window's working
_DEEPEST = 30  # parentheses nested deeper than this are not one window's working (and would exhaust the stack)


class Written(NamedTuple):
    text: str  # as written, with its sign: "- 5", "w4*5"
    value: sympy.Expr
    factors: tuple[sympy.Expr, ...]  # the factors as written, signs included; one for a bare number
    groups: tuple = ()  # per factor: the terms of a parenthesised sum, 0.88 (0.2 + 0.1), or None


class Expected(NamedTuple):
    position: int  # 0-based, in the window's reading order; -1 for the bias
    where: str  # "row 2, column 1 of the window", "the bias"
    x: Values | None  # scalar input; None for the bias
    w: Values | None  # scalar weight
    p: Values  # scalar product (or the bias)
    weight_first: bool = False  # how the worked solution writes the product: a neuron's weight first


class TermCheck(NamedTuple):
    verdict: str  # one of the verdicts above
    written: str | None  # the student's term; None for a missing term
    expected: Expected | None  # the window's term it stands for
    other: Expected | None  # for "cell": the window's cell whose value was taken


class SumCheck(NamedTuple):
    text: str  # the whole written sum
    terms: tuple[TermCheck, ...]
    added: sympy.Expr  # what the written terms add up to
    stated: sympy.Expr | None  # the total written after "=", if any
    right: Values  # the window's true total
    slip: bool  # the written total is not what the written terms add up to
    correct: bool  # the sum, as finally written, is the right total


def parse_sum(text: str, place: str) -> tuple[list[Written], sympy.Expr | None]:
    """The written terms of the left side, and the total after the last `=` if one is written."""
    if len(text) > _LONGEST:
        raise StepperError(f"the sum is {len(text)} characters long: expected one window's working", place=place)
    text = re.sub(r"([A-Za-z][A-Za-z0-9]*)_\{(\w+)\}", r"\1_\2", text)  # w_{1}, as LaTeX writes it: w_1
    for old, new in _REPLACE:
        text = text.replace(old, new)
    sides = [s.strip() for s in text.split("=")]
    if len(sides) > 1 and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_,() ]*", sides[0]) and not re.search(r"[-+*/]", sides[0]):
        sides = sides[1:]  # "z = ..." or "F(1,2) = ...": a name for the cell, not part of the sum
    if not sides[0]:
        raise StepperError("expected a sum such as \"0 + 2 - 1\", found nothing before '='", place=place)
    terms = _Parser(sides[0], place).whole(_Parser.terms)
    stated = _Parser(sides[-1], place).whole(_Parser.value) if len(sides) > 1 else None
    return terms, stated


class _Parser:
    """Recursive descent over: sum := term (+|- term)*; term := power ((*|/)? power)*;
    power := (+|-)* atom (^ power)?, no power of a power; atom := number | name | ( sum )."""

    def __init__(self, text: str, place: str):
        self.text, self.place = text, place
        self.tokens: list[tuple[str, str, int]] = []  # (kind, text, start)
        pos = 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                break
            number, name, other = m.groups()
            start = m.start(m.lastindex or 0)  # where the token itself starts, after any spaces
            if number:
                self.tokens.append(("num", number, start))
            elif name:
                if name.startswith("\\"):
                    self._fail(f"cannot read {name!r}: write the sum with + - * / and parentheses")
                self.tokens.append(("name", name, start))
            elif other and not other.isspace():
                if other not in "+-*/^()":
                    self._fail(f"cannot read {other!r}: write the sum with + - * / and parentheses")
                self.tokens.append(("op", other, start))
            pos = m.end()
        self.i = 0
        self.depth = 0  # parentheses open at this point
        self.powers = 0  # powers read so far: a power of a power could be a number too large to hold
        self.group: list | None = None  # the terms of the parenthesised sum just read, if it was one

    def whole(self, rule: Callable[[_Parser], T]) -> T:
        """`rule` over all of the text: anything left over is a mistake."""
        if not self.tokens:
            self._fail("expected a sum, found nothing")
        found = rule(self)
        left = self._next()
        if left is not None:
            self._fail(f"unexpected {left!r}")
        return found

    def _fail(self, why: str) -> NoReturn:
        raise StepperError(f"in the sum {self.text!r}: {why}", place=self.place)

    def _peek(self) -> tuple[str, str, int] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def _next(self) -> str | None:
        """The next token's text; None at the end."""
        token = self._peek()
        return token[1] if token is not None else None

    def _start(self) -> int:
        """Where the next token starts in the text; its length at the end."""
        token = self._peek()
        return token[2] if token is not None else len(self.text)

    def _op(self, ops: str) -> bool:
        """Whether the next token is one of the operators `ops`."""
        token = self._peek()
        return token is not None and token[0] == "op" and token[1] in ops

    def _take(self, op: str | None = None) -> tuple[str, str, int]:
        token = self._peek()
        if token is None or (op is not None and token[1] != op):
            self._fail(f"expected {op!r}" if op else "it ends too soon")
        self.i += 1
        return token

    def terms(self) -> list[Written]:
        import sympy

        found = []
        while True:
            start = self._start()
            sign = 1
            while self._op("+-"):
                sign = -sign if self._take()[1] == "-" else sign
            factors, groups = self._product()
            end = self._start()
            if sign < 0:
                factors[0] = -factors[0]
                groups[0] = groups[0] and [-g for g in groups[0]]
            found.append(Written(self.text[start:end].strip(), sympy.Mul(*factors), tuple(factors), tuple(groups)))
            following = self._next()
            if following is None or following == ")":
                return found  # the end, or the end of a parenthesis (whose caller takes the ')')
            if following not in "+-":
                before = self.tokens[self.i - 1] if self.i else None
                hint = ": write * or × for times (x is read as a name)" if before and before[1] in ("x", "X") else ""
                self._fail(f"unexpected {following!r}{hint}")

    def value(self) -> sympy.Expr:
        import sympy

        total = sympy.Add(*(t.value for t in self.terms()))
        return total

    def _product(self) -> tuple[list[sympy.Expr], list]:
        """The factors of one term, and for each the terms of its parenthesised sum (or None)."""
        factors, groups = [self._power()], [self.group]
        while (token := self._peek()) is not None and (token[1] in "*/" or token[0] == "name" or token[1] == "("):
            op = self._take()[1] if token[1] in "*/" else "*"  # (2)(3) and 2w1 multiply too
            f = self._power()
            if op == "/":
                if f == 0:
                    self._fail("division by zero")
                factors[-1], groups[-1] = factors[-1] / f, None
            else:
                factors.append(f)
                groups.append(self.group)
        return factors, groups

    def _power(self) -> sympy.Expr:
        negative = False
        while self._op("+-"):
            negative ^= self._take()[1] == "-"  # a loop, not recursion: "- - - 3" may be long
        powers = self.powers
        self.group = None
        base = self._atom()  # sets self.group for a parenthesised sum
        group = self.group
        if self._next() == "^":
            group = None  # a power of a sum is not a sum of terms
            if self.powers > powers:
                self._fail("a power of a power is not read: write the number it stands for")
            self._take()
            exponent = self._power()
            if not (exponent.is_Integer and abs(int(exponent)) <= 12):
                self._fail("only whole powers up to 12 are read")
            if base == 0 and exponent < 0:
                self._fail("division by zero")
            self.powers += 1
            base = base**exponent
        self.group = group and ([-g for g in group] if negative else group)
        return -base if negative else base

    def _number(self, text: str) -> sympy.Expr:
        import sympy

        try:
            return sympy.Rational(fraction(text))  # fraction() bounds an exponent: 1e99999999 has no room
        except ValueError:
            self._fail(f"{text!r} has too many digits")

    def _atom(self) -> sympy.Expr:
        import sympy

        kind, text, _ = self._take()
        if kind == "num":
            return self._number(text)
        if kind == "name":
            return sympy.Symbol(text)
        if text == "(":
            self.depth += 1
            if self.depth > _DEEPEST:
                self._fail(f"parentheses are nested more than {_DEEPEST} deep")
            terms = self.terms()
            self._take(")")
            self.depth -= 1
            self.group = [t.value for t in terms] if len(terms) > 1 else None
            return sympy.Add(*(t.value for t in terms))
        self._fail(f"unexpected {text!r}")


def check_sum(text: str, place: str, expected: list[Expected], right: Values, tolerance: float) -> SumCheck:
    """Match each written term to a term of the window and judge it, then the addition."""
    import sympy

    written, stated = parse_sum(text, place)
    written = [part for t in _renamed(written, expected) for part in _distributed(t)]
    same = _Same(tolerance)
    open_ = list(expected)  # the window's terms not yet matched
    checks: list[TermCheck] = []
    cursor = 0  # written terms usually follow the window's reading order: prefer the next term
    unmatched: list[int] = []
    for t in written:
        verdict, match, other = _match(t, open_, expected, same, cursor)
        if match is not None:
            open_.remove(match)
            cursor = match.position + 1 if match.position >= 0 else cursor
        checks.append(TermCheck(verdict, t.text, match, other))
        if verdict == "product":
            unmatched.append(len(checks) - 1)
    # A wrong number stands for the first term of the window not accounted for; beyond those it is extra.
    missing = [e for e in open_ if not same.zero(e.p)]
    for i in unmatched:
        if missing:
            checks[i] = checks[i]._replace(expected=missing.pop(0))
        else:
            checks[i] = checks[i]._replace(verdict="extra")
    checks += [TermCheck("missing", None, e, None) for e in missing]
    added = sympy.Add(*(t.value for t in written))
    slip = stated is not None and not same.equal(stated, added)
    final = stated if stated is not None else added
    return SumCheck(text, tuple(checks), added, stated, right, slip, same.equal(final, _sym(right)))


def _distributed(t: Written) -> list[Written]:
    """0.8808 (0.2 + 0.1) as the two products it stands for, so each is matched to its own term."""
    import sympy

    for i, group in enumerate(t.groups):
        if group:
            return [
                Written(f"{t.text} (its term {k + 1} of {len(group)})", sympy.Mul(*factors), factors)
                for k, part in enumerate(group)
                for factors in [t.factors[:i] + (part,) + t.factors[i + 1 :]]
            ]
    return [t]


def _renamed(written: list[Written], expected: list[Expected]) -> list[Written]:
    """w_1 read as the window's w1 (and the reverse): the names as the student wrote them may differ
    from the problem's only by an underscore."""
    import sympy

    symbols = {
        s
        for e in expected
        for v in (e.x, e.w, e.p)
        if v is not None and v.symbolic
        for s in sympy.sympify(v.data.ravel()[0]).free_symbols
    }
    known = {s.name.replace("_", ""): s for s in symbols}
    out = []
    for t in written:
        names = {
            s: known[s.name.replace("_", "")]
            for s in t.value.free_symbols | set().union(*(sympy.sympify(f).free_symbols for f in t.factors))
            if s.name.replace("_", "") in known
        }
        if names:
            t = Written(
                t.text,
                t.value.subs(names),
                tuple(sympy.sympify(f).subs(names) for f in t.factors),
                tuple(g and [sympy.sympify(x).subs(names) for x in g] for g in t.groups),
            )
        out.append(t)
    return out


def _match(t: Written, open_: list[Expected], expected: list[Expected], same: _Same, cursor: int):
    """The verdict on one written term, the window's term it stands for, and (for a wrong cell) the cell used."""

    def in_order(candidates):
        ahead = [e for e in candidates if e.position >= cursor]
        return (ahead or candidates)[0] if candidates else None

    if len(t.factors) == 2:
        a, b = t.factors
        pairs = [e for e in open_ if e.x is not None and _pair(a, b, e, same)]
        right = in_order([e for e in pairs if same.equal(t.value, _sym(e.p))])
        if right:
            return "right", right, None
        flipped = in_order([e for e in pairs if same.equal(t.value, -_sym(e.p))])
        if flipped:
            return "sign", flipped, None
        # The right weight over the wrong value: prefer the reading where that value is another cell
        # of the window (a slip of the eye), then the window's next term.
        options = []
        for weight, value in ((a, b), (b, a)):
            for e in open_:
                if e.w is not None and not same.zero(e.p) and same.equal(weight, _sym(e.w)):
                    cells = [o for o in expected if o.x is not None and o is not e and same.equal(value, _sym(o.x))]
                    options.append((not cells, e.position < cursor, e.position, e, cells[0] if cells else None))
        if options:
            _, _, _, e, cell = min(options, key=lambda o: o[:3])
            return ("cell" if cell else "value"), e, cell
    if same.zero(t.value):
        zeros = [e for e in open_ if same.zero(e.p)]
        return "zero", in_order(zeros), None
    by_value = in_order([e for e in open_ if same.equal(t.value, _sym(e.p))])
    if by_value:
        return "right", by_value, None
    negated = in_order([e for e in open_ if same.equal(t.value, -_sym(e.p))])
    if negated:
        return "sign", negated, None
    return "product", None, None


def _pair(a, b, e: Expected, same: _Same) -> bool:
    """Whether {a, b} are the term's input and weight, up to their signs."""
    if e.x is None or e.w is None:
        return False  # the bias: no input and weight to pair with
    x, w = _sym(e.x), _sym(e.w)
    return (same.equal(abs_(a), abs_(x)) and same.equal(abs_(b), abs_(w))) or (
        same.equal(abs_(a), abs_(w)) and same.equal(abs_(b), abs_(x))
    )


def abs_(v):
    if _is_number(v):
        return abs(v)
    import sympy

    return -v if sympy.Mul(v).could_extract_minus_sign() else v


def _is_number(v) -> bool:
    return bool(getattr(v, "is_number", False))


def _sym(v: Values) -> sympy.Expr:
    """One cell of a Values as a sympy value."""
    import sympy

    x = v.data.item() if v.data.ndim == 0 else v.data.ravel()[0]
    if v.symbolic:
        return sympy.sympify(x)
    if v.scale:
        return sympy.Rational(int(x), v.scale)
    return sympy.Float(float(x))


class _Same:
    """Equality of written numbers within the rounding in force; of symbolic terms exactly."""

    def __init__(self, tolerance: float):
        self.tolerance = tolerance

    def equal(self, a, b) -> bool:
        if getattr(a, "is_number", True) and getattr(b, "is_number", True):
            return abs(float(a) - float(b)) <= self.tolerance
        import sympy

        diff = sympy.expand(sympy.sympify(a) - sympy.sympify(b))
        if diff.is_number:
            return abs(float(diff)) <= self.tolerance
        return False

    def zero(self, v) -> bool:
        v = _sym(v) if isinstance(v, Values) else v
        return self.equal(v, 0)


# ---- a wrong total with no written sum: which single slip explains it ----


def explain_total(
    expected: list[Expected], value: float, right: float, tolerance: float
) -> tuple[str, Expected | None]:
    """The single slip that turns the right total into the student's value, if one does:
    a term left out, a term's sign, the bias left out."""
    for e in expected:
        p = float(e.p.floats())
        if p == 0:
            continue
        if e.x is None and abs(value - (right - p)) <= tolerance:
            return "bias", e
        if e.x is not None and abs(value - (right - p)) <= tolerance:
            return "missing", e
        if e.x is not None and abs(value - (right - 2 * p)) <= tolerance:
            return "sign", e
    return "", None
