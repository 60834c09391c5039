"""Checkpoint reading and the generator spec live in ``models``: layers and models import nothing
above them, and inference loads generators without the training package."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "audioup"
ABOVE_MODELS = ("analysis", "data", "train", "inference", "compare", "demo", "cli", "convert", "metrics")


def _imported(path: Path, top_level_only: bool):
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            yield (node.module or "").split(".")[0], node.level
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("audioup."):
            yield node.module.split(".")[1], 1


@pytest.mark.parametrize("package", ["layers", "models"])
def test_layers_and_models_import_nothing_above_them(package):
    forbidden = ABOVE_MODELS + (("models",) if package == "layers" else ())
    # layers/cli.py (``audioup layers``) still reaches up to analysis and audioup.cli: issue 15, another change
    for path in sorted(p for p in (PKG / package).glob("*.py") if p.name != "cli.py"):
        bad = [m for m, level in _imported(path, top_level_only=False) if level >= 2 and m in forbidden]
        assert not bad, f"{path.name} imports {bad}"


def test_inference_loads_generators_without_the_training_package():
    modules = [m for m, _ in _imported(PKG / "inference.py", top_level_only=True)]
    assert "train" not in modules and "models" in modules
