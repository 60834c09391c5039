"""Packages import only from the layers below their own (README "Layout", STYLE.md).

Order: audio < layers < models / metrics < analysis / data < train < inference < evaluation
< compare < commands (every command) / cli. The leaf modules ``audioup.errors`` and ``audioup.progress`` sit
under everything; inference also stays free of training code. Every ``import`` is checked, function-local ones included, by parsing
the source with ``ast`` (nothing is imported).
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Iterator, Tuple

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "audioup"

RANK = {
    "errors": 0, "progress": 0, "device": 0,
    "audio": 1,
    "layers": 2,
    "models": 3, "metrics": 3,
    "analysis": 4, "data": 4,
    "train": 5,
    "inference": 6,
    "evaluation": 7,  # vocode, then measure: uses inference, serves compare and commands
    "compare": 8,
    "cli": 9, "commands": 9,
    "__main__": 10,  # `python -m audioup`: runs audioup.cli
}

# Allowed by the order, still unwanted: inference needs no training code (STYLE.md, as vocos).
FORBIDDEN = {("inference", "train")}

# Known violations still being removed (issue 15): (importing unit, imported unit).
# Each is a debt with an owner; the integrator empties this list once they are fixed.
KNOWN_EXCEPTIONS: set = set()


def unit_of(module: str) -> str:
    """``audioup.train.loop`` -> ``train``; ``audioup`` itself -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> Iterator[Tuple[int, str]]:
    """``(line, absolute module)`` for every import in ``path`` that names an audioup module."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "audioup":
                    yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "audioup":
                continue
            if target == "audioup" or not node.module:  # `from . import x`: x may be a submodule
                for alias in node.names:
                    yield node.lineno, f"{target}.{alias.name}" if target == "audioup" else target
            else:
                yield node.lineno, target


def violations():
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        src = module_name(path)
        here = unit_of(src)
        if here == "":  # audioup/__init__.py: the public facade re-exports from below
            continue
        assert here in RANK, f"{path}: add its package to RANK in {__file__}"
        for line, target in imported_modules(path):
            there = unit_of(target)
            if there in ("", here) or there == "__version__":
                continue
            assert there in RANK, f"{path}:{line}: imports unknown unit {target}"
            if RANK[there] < RANK[here] and (here, there) not in FORBIDDEN:
                continue
            found.append((here, there, f"{path.relative_to(PACKAGE.parent)}:{line} imports {target}"))
    return found


def test_packages_import_only_from_lower_layers():
    bad = [where for here, there, where in violations() if (here, there) not in KNOWN_EXCEPTIONS]
    assert not bad, "imports against the layer order:\n" + "\n".join(bad)


def test_known_exceptions_are_still_needed():
    """An exception that no longer occurs must leave the list (so it cannot hide a new one)."""
    seen = {(here, there) for here, there, _ in violations()}
    assert KNOWN_EXCEPTIONS <= seen, f"fixed, remove from KNOWN_EXCEPTIONS: {KNOWN_EXCEPTIONS - seen}"


@pytest.mark.parametrize("source, expected", [
    ("from ..train.checkpoint import load\n", "audioup.train.checkpoint"),
    ("from . import plots\n", "audioup.analysis"),
    ("import audioup.layers.registry\n", "audioup.layers.registry"),
    ("from audioup.data import corpus\n", "audioup.data"),
])
def test_imports_are_resolved_to_absolute_modules(tmp_path, monkeypatch, source, expected):
    path = PACKAGE / "analysis" / "_probe_for_test.py"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: source)
    assert [m for _, m in imported_modules(path)] == [expected]
