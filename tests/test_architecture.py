"""The package's import graph shows the layers of DESIGN.md, drawn from the import statements.

Layers, bottom to top: plumbing, estimation, verdict, optimisation, examples,
front doors.  A module may import its own layer or a lower one, never a
higher one; no name starting with ``_`` crosses from one package to another;
and no ``import X as X`` re-export shims are left.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "gradverify"

# Lowest first.  A module not named here takes the layer of its package
# (new modules of _core are verdict modules unless listed).
LAYERS: dict[str, int] = {
    "gradverify.errors": 0,
    "gradverify._core.names": 0,
    "gradverify._core.validate": 0,
    "gradverify._core.params": 0,
    "gradverify._core.batches": 0,
    "gradverify._core.evaluate": 0,
    "gradverify._core.matrices": 0,
    "gradverify.steps": 1,
    "gradverify._core.tolerance": 1,
    "gradverify._core.estimators": 1,
    "gradverify._core": 2,
    "gradverify.descent": 3,
    "gradverify.invariants": 4,
    "gradverify.zoo": 5,
    "gradverify.strategies": 6,
    "gradverify": 7,
}
NAMES = ["plumbing", "plumbing", "estimation", "verdict", "optimisation (descent)", "optimisation (invariants)",
         "examples", "strategies", "front doors"]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def layer_of(module: str) -> int:
    while module:
        if module in LAYERS:
            return LAYERS[module]
        module = module.rpartition(".")[0]
    raise AssertionError(f"{module!r} is outside gradverify")


def package_of(module: str, is_package: bool) -> str:
    return module if is_package else module.rpartition(".")[0]


def imports(path: Path) -> list[tuple[str, list[str], int, ast.stmt]]:
    """(imported module, names, line, node) for every gradverify import in the file, nested ones included."""
    module = module_name(path)
    package = package_of(module, path.name == "__init__.py")
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("gradverify"):
                found.append((target, [a.name for a in node.names], node.lineno, node))
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("gradverify"):
                    found.append((alias.name, [], node.lineno, node))
    return found


SOURCES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: module_name(p))
def test_no_import_goes_up_a_layer(path):
    here = module_name(path)
    for target, names, line, _ in imports(path):
        for name in names or [""]:
            # "from . import steps" imports the module gradverify.steps, not a name of gradverify.
            candidate = PACKAGE.parent / f"{target}.{name}".replace(".", "/")
            full = f"{target}.{name}" if name and (candidate.is_dir() or candidate.with_suffix(".py").exists()) else target
            if layer_of(full) > layer_of(here) and here != "gradverify":
                pytest.fail(f"{here} (layer {NAMES[layer_of(here) + 1]}) imports {full} "
                            f"(layer {NAMES[layer_of(full) + 1]}) at line {line}")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: module_name(p))
def test_no_private_name_crosses_a_package(path):
    here = module_name(path)
    own = package_of(here, path.name == "__init__.py")
    for target, names, line, _ in imports(path):
        target_package = target if (PACKAGE.parent / target.replace(".", "/")).is_dir() else target.rpartition(".")[0]
        if target_package == own:
            continue
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        assert not private, f"{here} imports private {private} from {target} (another package) at line {line}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: module_name(p))
def test_no_reexport_shims(path):
    for target, _, line, node in imports(path):
        shims = [a.name for a in getattr(node, "names", []) if a.asname == a.name and isinstance(node, ast.ImportFrom)]
        assert not shims, f"{module_name(path)} re-exports {shims} from {target} with 'import X as X' at line {line}"


def test_the_layers_are_ordered_as_design_draws_them():
    # The rules above are only as good as the table: plumbing < estimation < verdict < optimisation < front doors.
    order = ["gradverify._core.params", "gradverify._core.estimators", "gradverify._core.check",
             "gradverify.descent._routines", "gradverify.invariants._monotone", "gradverify.zoo", "gradverify.cli._check"]
    assert [layer_of(m) for m in order] == sorted(layer_of(m) for m in order)
    assert len({layer_of(m) for m in order}) == len(order)
