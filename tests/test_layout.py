"""The layout holds: imports run downward, no cycles, small units, public faces that resolve.

The subpackages are ranked; a module may import from its own subpackage and from any ranked below its own, never
from one above. Lazy imports inside functions count too: a lazy import that runs back up is still a dependency that
runs back up. Only imports under `if TYPE_CHECKING:` are left out of the cycle check, since they never run.
"""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from tests.helpers import ROOT

PACKAGE = ROOT / "stepper"
RANK = {"core": 0, "interop": 1, "writing": 2, "exams": 3, "marking": 4, "cli": 5, "": 6}
SUBPACKAGES = [name for name in RANK if name]

# The longest a function or a class may be, in lines as `ruff format` writes them, and the units allowed to be
# longer, each with its reason.
FUNCTION_LINES = 60
CLASS_LINES = 200
LONGER: dict[str, str] = {}


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def subpackage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in RANK) else ""


def _type_checking_only(tree: ast.AST) -> set[int]:
    """The ids of import nodes that sit under `if TYPE_CHECKING:`."""
    hidden: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                hidden |= {id(n) for n in ast.walk(inner) if isinstance(n, (ast.Import, ast.ImportFrom))}
    return hidden


def imports(module: str, path: Path, known: dict[str, Path]) -> list[tuple[str, int, bool]]:
    """(imported stepper module, line, runs) for every import of stepper code in the module."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    hidden = _type_checking_only(tree)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{a.name}" for a in node.names]
            targets = [n for n in names if n in known] or [target]
            if names == ["stepper.__version__"]:
                continue  # the version number is the one name any module may read from the top
        elif isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        else:
            continue
        for t in targets:
            if t == "stepper" or t.startswith("stepper."):
                found.append((t, node.lineno, id(node) not in hidden))
    return found


def test_every_import_runs_downward():
    known = modules()
    upward = []
    for module, path in known.items():
        here = subpackage(module)
        for target, line, _ in imports(module, path, known):
            there = subpackage(target)
            if there != here and RANK[there] > RANK[here]:
                where = f"{path.relative_to(ROOT)}:{line}"
                upward.append(f"{where} imports {target} ({there} is above {here or 'stepper'})")
    assert not upward, "imports that run back up:\n" + "\n".join(upward)


def test_no_import_cycles():
    known = modules()
    graph: dict[str, set[str]] = defaultdict(set)
    for module, path in known.items():
        for target, _, runs in imports(module, path, known):
            if runs and target in known and target != module:
                graph[module].add(target)
    cycles = []
    state: dict[str, int] = {}  # 1 on the path being walked, 2 done

    def walk(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(path[path.index(nxt) :] + [nxt]))
            elif nxt not in state:
                walk(nxt, path + [nxt])
        state[node] = 2

    for module in sorted(known):
        if module not in state:
            walk(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def units():
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        stack = [(tree, "")]
        while stack:
            node, prefix = stack.pop()
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    name = f"{prefix}{child.name}"
                    yield path, name, child
                    stack.append((child, name + "."))
                else:
                    stack.append((child, prefix))


def test_units_are_small():
    long, seen = [], set()
    for path, name, node in units():
        lines = node.end_lineno - node.lineno + 1
        limit = CLASS_LINES if isinstance(node, ast.ClassDef) else FUNCTION_LINES
        where = f"{path.relative_to(PACKAGE).with_suffix('')}.{name}".replace("/", ".")
        if lines > limit and where not in LONGER:
            long.append(f"{where}: {lines} lines (at most {limit})")
        if where in LONGER and lines > limit:
            seen.add(where)
    assert not long, "units too long to read in one sitting:\n" + "\n".join(long)
    assert set(LONGER) <= seen, f"allowed to be long but gone or short now (take them off LONGER): {set(LONGER) - seen}"


def test_no_public_name_hides_a_module_of_its_package():
    """A package's public name equal to one of its modules' names would make `import stepper.x.y` give the module
    or the name depending on what ran first."""
    hidden = []
    for name in ["", *SUBPACKAGES]:
        package = importlib.import_module("stepper" + (f".{name}" if name else ""))
        folder = PACKAGE / name if name else PACKAGE
        own = {p.stem for p in folder.glob("*.py")} | {p.name for p in folder.iterdir() if (p / "__init__.py").exists()}
        hidden += [f"{package.__name__}.{public}" for public in package.__all__ if public in own]
    assert not hidden, "public names that hide a module: " + ", ".join(hidden)


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_each_subpackage_says_what_it_does_and_names_its_public_face(name):
    path = PACKAGE / name / "__init__.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    doc = ast.get_docstring(tree) or ""
    assert len(doc.split()) >= 10, f"stepper/{name}/__init__.py needs a docstring saying what it does"
    assert "import" in doc, f"stepper/{name}/__init__.py should say what it may import"
    module = importlib.import_module(f"stepper.{name}")
    assert getattr(module, "__all__", None), f"stepper.{name} names no public face (__all__)"
    for public in module.__all__:
        assert hasattr(module, public), f"stepper.{name}.__all__ names {public!r}, which it does not have"


def test_the_top_level_public_face_resolves():
    import stepper

    for public in stepper.__all__:
        assert getattr(stepper, public) is not None
    assert "trace" in dir(stepper)
    with pytest.raises(AttributeError):
        stepper.no_such_name  # noqa: B018


def test_import_stepper_loads_nothing_heavy():
    """`import stepper` alone loads no numpy, sympy, jinja2 or torch: they come when a public name is first used."""
    code = "import sys, stepper; print(' '.join(m for m in ('numpy', 'sympy', 'jinja2', 'torch') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == ""


def test_tracing_a_problem_without_symbols_never_loads_sympy():
    code = "import sys, stepper\nstepper.trace(stepper.load('examples/tutorial.toml'))\nprint('sympy' in sys.modules)\n"
    loaded = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "False"


def test_public_names_come_from_their_package_or_below():
    """The lazy public faces name modules as strings, which the import walk cannot see: check where each comes from."""
    upward = []
    for name in SUBPACKAGES:
        package = importlib.import_module(f"stepper.{name}")
        for public in package.__all__:
            home = getattr(getattr(package, public), "__module__", None) or ""
            there = subpackage(home) if home.startswith("stepper.") else name
            if RANK[there] > RANK[name]:
                upward.append(f"stepper.{name}.{public} comes from {home}")
    assert not upward, "public names that reach up:\n" + "\n".join(upward)
