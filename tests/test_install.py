"""The installed package stands alone (issue 23): a non-editable install outside the clone
finds the demo recipe and the bundled speech as package data.

The install goes into a fresh venv that sees this interpreter's packages (torch, numpy, pip,
setuptools) through a .pth line, with --no-deps --no-build-isolation: nothing is downloaded.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# what a build reads: the package (whose assets/ link to the recipes and clips below) and its metadata
SOURCES = ["pyproject.toml", "README.md", "audioup", "recipes/base.yaml", "recipes/tiny.yaml",
           "recipes/demo.yaml", "data/cmu_arctic"]

CHECK = """
import json
from pathlib import Path
import audioup
from audioup.commands import demo
from audioup.compare.conversion import default_test_clips
from audioup.data import corpus
from audioup.audio.io import find_audio_files
from audioup.train.config import load_config
cfg = load_config(demo.RECIPE, ["data.filelist=x.txt"], for_run=False)
print(json.dumps({"package": audioup.__file__, "recipe": str(demo.RECIPE), "steps": cfg.max_steps,
                  "clips": [str(p) for p in find_audio_files([corpus.DEFAULT_SOURCES])],
                  "test": str(default_test_clips()[0]), "test_exists": default_test_clips()[0].is_file(),
                  "licence": (corpus.DEFAULT_SOURCES / "COPYING").is_file()}))
"""


def _copy_sources(dest: Path) -> None:
    for name in SOURCES:
        src, dst = REPO / name, dest / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, symlinks=True, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, dst)


@pytest.mark.slow  # builds and installs a wheel: ~20-60 s
def test_a_non_editable_install_finds_its_data(tmp_path):
    import json

    src, env = tmp_path / "src", tmp_path / "venv"
    _copy_sources(src)
    venv.EnvBuilder(with_pip=False).create(env)
    python = env / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    # this interpreter's packages, after the new venv's own (so its audioup is found first)
    (Path(purelib) / "_parent.pth").write_text(sysconfig.get_path("purelib") + "\n")
    run_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIP_REQUIRE_VIRTUALENV")}
    install = subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                              "--no-index", str(src)], capture_output=True, text=True, cwd=tmp_path,
                             env=run_env, timeout=600)
    assert install.returncode == 0, install.stderr
    shutil.rmtree(src)  # nothing may read the sources any more
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = subprocess.run([str(python), "-I", "-c", CHECK], capture_output=True, text=True, cwd=elsewhere,
                         env=run_env, timeout=300)
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    assert found["package"].startswith(purelib)
    assert found["recipe"].startswith(purelib) and found["steps"] == 150
    assert [Path(p).name for p in found["clips"]] == ["arctic_a0007.wav", "arctic_a0009.wav"]
    assert all(p.startswith(purelib) for p in found["clips"]) and found["licence"]
    assert found["test"].startswith(purelib) and found["test_exists"]
    helped = subprocess.run([str(env / "bin" / "audioup"), "demo", "--help"], capture_output=True, text=True,
                            cwd=elsewhere, env=run_env, timeout=120)
    assert helped.returncode == 0 and "--out" in helped.stdout, helped.stderr
