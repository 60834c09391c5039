"""`make` set-up: each clone runs its own code, even with a virtual environment shared by clones.

The Makefile's `own-code` guard is run for real (GNU make) on two copies of the repository's
Makefile with one shared venv. The venv is created without pip and `INSTALL` is replaced by
what an editable install amounts to (a .pth file naming the clone), so the test installs nothing.
"""
from __future__ import annotations

import shutil
import subprocess
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")


def make_clone(root: Path, name: str) -> Path:
    clone = root / name
    (clone / "audioup").mkdir(parents=True)
    shutil.copy(REPO / "Makefile", clone / "Makefile")
    shutil.copy(REPO / "pyproject.toml", clone / "pyproject.toml")
    (clone / "audioup" / "__init__.py").write_text(f"CLONE = {name!r}\n")
    return clone


def site_packages(env: Path) -> Path:
    out = subprocess.run([str(env / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                         capture_output=True, text=True, check=True)
    return Path(out.stdout.strip())


def install(clone: Path, env: Path) -> subprocess.CompletedProcess:
    pth = site_packages(env) / "__editable__.audioup.pth"
    fake_install = f"echo {clone} > {pth}"  # what `pip install -e` leaves behind: the clone on sys.path
    return subprocess.run(["make", "-s", "-C", str(clone), "install", f"VENV={env}", f"INSTALL={fake_install}"],
                          capture_output=True, text=True, timeout=60)


def runs_code_of(env: Path, cwd: Path) -> str:
    """Which clone `import audioup` finds in the venv (as the `audioup` console script would)."""
    out = subprocess.run([str(env / "bin" / "python"), "-I", "-c", "import audioup; print(audioup.CLONE)"],
                         capture_output=True, text=True, cwd=cwd, check=True)
    return out.stdout.strip()


def test_each_clone_runs_its_own_code_with_a_shared_venv(tmp_path):
    env = tmp_path / "shared-venv"
    venv.EnvBuilder(with_pip=False).create(env)
    a, b = make_clone(tmp_path, "a"), make_clone(tmp_path, "b")

    assert install(a, env).returncode == 0
    assert runs_code_of(env, a) == "a"
    assert install(b, env).returncode == 0  # b's first install: the venv now points at b
    assert runs_code_of(env, a) == "b"
    # a is installed already (its stamp is fresh), but the guard sees the venv runs b's code
    proc = install(a, env)
    assert proc.returncode == 0, proc.stderr
    assert "runs another clone's audioup" in proc.stdout
    assert runs_code_of(env, a) == "a"
    # nothing to do when the venv already runs this clone's code
    again = install(a, env)
    assert again.returncode == 0 and again.stdout == ""


def test_the_default_venv_is_inside_the_clone():
    text = (REPO / "Makefile").read_text()
    assert "\nVENV ?= .venv\n" in text
    assert ".venv/" in (REPO / ".gitignore").read_text().split()


def test_ci_runs_make_test_with_the_lint_gate():
    lines = [ln.strip() for ln in (REPO / ".ci" / "run").read_text().splitlines()]
    assert "set -euo pipefail" in lines and "make test" in lines
    assert lines.index("set -euo pipefail") < lines.index("make test")  # a failing suite stops CI
    network = [ln for ln in lines if "-m network" in ln]  # then the real-package test, apart from it
    assert network and all(lines.index(ln) > lines.index("make test") for ln in network)
    makefile = (REPO / "Makefile").read_text()
    assert "test: lint" in makefile and "ruff check" in makefile


def test_demo_installs_no_dev_extras_and_test_adds_them(tmp_path):
    """Issue 23 (P8): `make demo` installs the package alone; the dev extra comes with `make test`."""
    clone = make_clone(tmp_path, "c")

    def installs(target):
        out = subprocess.run(["make", "-n", "-C", str(clone), target, f"VENV={tmp_path / 'env'}"],
                             capture_output=True, text=True, timeout=60, check=True).stdout
        return [line.split("pip install", 1)[1].split() for line in out.splitlines() if "pip install" in line]

    assert all(".[dev]" not in " ".join(args) for args in installs("demo")) and installs("demo")
    assert any("'.[dev]'" in args or ".[dev]" in args for args in installs("test"))
