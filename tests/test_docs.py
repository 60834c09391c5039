"""Docs that run: every doctest in the package and every ```python block of README.md.

As julius' ``tests/test_doc.py``: an example that stops working fails the suite.
README blocks run in a scratch folder that sees the repository's ``recipes/`` and
``data/`` (read-only use), one fresh namespace per block; a block whose first line
is ``# not run: REASON`` is skipped with that reason (use only when it truly cannot run).
"""
from __future__ import annotations

import doctest
import importlib
import os
import pkgutil
import re
from pathlib import Path

import pytest

import audioup

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
NOT_RUN = "# not run:"


def package_modules():
    names = [audioup.__name__]
    for info in pkgutil.walk_packages(audioup.__path__, prefix="audioup."):
        if not info.name.endswith("__main__"):
            names.append(info.name)
    return sorted(names)


def _tested(module_name: str):
    module = importlib.import_module(module_name)
    tests = doctest.DocTestFinder(exclude_empty=True).find(module, module_name)
    return [t for t in tests if t.examples and t.name.split(".")[:len(module_name.split("."))] ==
            module_name.split(".")]


@pytest.mark.parametrize("module_name", [m for m in package_modules() if _tested(m)])
def test_doctests(module_name):
    tests = _tested(module_name)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} doctest example(s) failed in {module_name} (output above)"


def test_the_package_has_doctests():
    assert sum(len(_tested(m)) for m in package_modules()) >= 8


def readme_blocks(text: str):
    """``(line, code)`` of each fenced ```python block."""
    return [(text[:m.start()].count("\n") + 2, m.group(1))
            for m in re.finditer(r"^```python\n(.*?)^```", text, flags=re.S | re.M)]


def test_readme_blocks_are_found():
    blocks = readme_blocks("intro\n```python\nx = 1\n```\n```sh\nls\n```\n```python\ny = 2\n```\n")
    assert blocks == [(3, "x = 1\n"), (9, "y = 2\n")]
    assert readme_blocks(README.read_text()), "README.md has no ```python blocks"


@pytest.mark.parametrize("line, code", [pytest.param(line, code, id=f"README.md:{line}")
                                        for line, code in readme_blocks(README.read_text())])
def test_readme_python_block_runs(line, code, tmp_path, monkeypatch):
    first = code.lstrip().splitlines()[0] if code.strip() else ""
    if first.startswith(NOT_RUN):
        pytest.skip(first[len(NOT_RUN):].strip() or "marked not runnable")
    for name in ("recipes", "data"):
        os.symlink(REPO / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    exec(compile(code, f"README.md:{line}", "exec"), {"__name__": "__readme__"})


# ----------------------------------------------------------------------------- README's shell blocks

NEEDS = "# needs:"  # first line of a ```sh block that needs a data set, a GPU or many minutes: not run
NEEDS_MODULE = "# needs-module:"  # run only where that module imports (an optional extra)


def readme_shell_blocks(text: str):
    """``(line, code)`` of each fenced ```sh block."""
    return [(text[:m.start()].count("\n") + 2, m.group(1))
            for m in re.finditer(r"^```sh\n(.*?)^```", text, flags=re.S | re.M)]


def test_readme_shell_blocks_are_found_and_marked():
    blocks = readme_shell_blocks(README.read_text())
    assert len(blocks) >= 5
    marked = [code for _, code in blocks if code.startswith(NEEDS)]
    assert marked and len(marked) < len(blocks)  # some run, and what cannot says why
    for _, code in blocks:  # examples write under runs/ (git-ignored), never into the clone elsewhere
        assert not re.search(r"--(out|plot|json|csv)[ =](?!runs/|data/corpus)", code), code


@pytest.fixture(scope="module")
def shell_folder(tmp_path_factory):
    """A scratch folder that sees the clone's recipes/, data/ and data_scripts/, with `audioup` and
    `python` on PATH running this checkout's code."""
    import sys

    folder = tmp_path_factory.mktemp("readme_sh")
    for name in ("recipes", "data", "data_scripts"):
        os.symlink(REPO / name, folder / name)
    bin_dir = tmp_path_factory.mktemp("bin")
    for name, command in (("audioup", f'"{sys.executable}" -m audioup'), ("python", f'"{sys.executable}"')):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec {command} "$@"\n')
        (bin_dir / name).chmod(0o755)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}", PYTHONPATH=str(REPO),
               OMP_NUM_THREADS="1")
    return folder, env


@pytest.mark.slow  # every runnable block in order (tiny training, V1 analysis, the pretrained vocoder): minutes
@pytest.mark.parametrize("line, code", [pytest.param(line, code, id=f"README.md:{line}")
                                        for line, code in readme_shell_blocks(README.read_text())])
def test_readme_shell_block_runs(line, code, shell_folder):
    import importlib.util
    import subprocess

    first = code.splitlines()[0]
    if first.startswith(NEEDS):
        pytest.skip(first[len(NEEDS):].strip())
    if first.startswith(NEEDS_MODULE):
        module = first[len(NEEDS_MODULE):].strip()
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"needs {module}")
    folder, env = shell_folder
    before = {p.name for p in REPO.iterdir()}
    proc = subprocess.run(["bash", "-e", "-c", code], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, f"README.md:{line} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert {p.name for p in REPO.iterdir()} == before  # nothing written into the clone


def test_readme_headline_tables_are_the_measured_reports():
    """README's convert / comparison tables are rendered from benchmarks/results/ (never copied by hand)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("readme_tables", REPO / "benchmarks" / "readme_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = (REPO / "README.md").read_text()
    blocks = module.BLOCK.findall(text)
    assert blocks, "README has no <!-- table:NAME --> block"
    assert module.updated(text) == text, "run python benchmarks/readme_tables.py"
