"""`audioup layers`, `audioup --version` and `--help`."""
from __future__ import annotations

import json
import subprocess
import sys

from audioup import __version__
from audioup.cli import main


def test_layers_command_compares_kinds(tmp_path, capsys):
    out = tmp_path / "rows.json"
    assert main(["layers", "--factor", "4", "--in-channels", "8", "--out-channels", "4", "--json", str(out)]) == 0
    rows = {r["kind"]: r for r in json.loads(out.read_text())}
    assert set(rows) >= {"transposed", "resize-nearest", "resize-linear", "subpixel-icnr", "sinc"}
    assert rows["transposed"]["checkerboard_db"] > -40
    for flat in ("resize-nearest", "resize-linear", "subpixel-icnr", "sinc"):
        assert rows[flat]["checkerboard_db"] < -60, flat
    # The folded nearest resize costs what HiFi-GAN's transposed conv (kernel 2f) costs.
    assert rows["resize-nearest"]["macs_per_input_sample"] == rows["transposed"]["macs_per_input_sample"]
    assert "resize-nearest" in capsys.readouterr().out


def test_layers_command_reports_bad_factor(capsys):
    assert main(["layers", "--factor", "0"]) == 1
    assert "factor must be an integer >= 1" in capsys.readouterr().err


def test_console_script_version_and_help():
    version = subprocess.run([sys.executable, "-m", "audioup", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.strip() == f"audioup {__version__}"
    helptext = subprocess.run([sys.executable, "-m", "audioup", "--help"], capture_output=True, text=True)
    assert helptext.returncode == 0
    for command in ("layers", "measure", "analyze", "train", "vocode"):
        assert command in helptext.stdout


def test_layers_command_refuses_sizes_that_would_take_gigabytes(tmp_path, capsys):
    assert main(["layers", "--in-channels", "100000", "--out-channels", "100000"]) == 1
    assert "too large" in capsys.readouterr().err
    (tmp_path / "d").mkdir()
    assert main(["layers", "--factor", "2", "--json", str(tmp_path / "d")]) == 1
    assert "is a folder, not a file" in capsys.readouterr().err
