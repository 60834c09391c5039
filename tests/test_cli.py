"""The ``audioup`` console script: lazy subcommands, one help line per command."""
from __future__ import annotations

import argparse
import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from audioup.cli import COMMANDS, build_parser, main

REPO = Path(__file__).resolve().parents[1]

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
ENTRIES = [entry for entry in COMMANDS if not isinstance(entry, str)]


def test_every_command_is_listed_lazily():
    """A bare module name in COMMANDS is imported for every --help: give it (name, module, help)."""
    assert not [entry for entry in COMMANDS if isinstance(entry, str)]


def loaded_after(code: str):
    """The audioup modules (and whether torch) a fresh interpreter has imported after ``code``."""
    probe = (f"import sys, json\n{code}\n"
             "print(json.dumps({'audioup': sorted(m for m in sys.modules if m.startswith('audioup')),"
             " 'torch': 'torch' in sys.modules}))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=ENV, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


HELP_RUNS = ("from audioup.cli import main\n"
             "for argv in (['--help'], ['--version'], []):\n"
             "    try:\n"
             "        main(argv)\n"
             "    except SystemExit:\n"
             "        pass")


def test_help_and_version_import_no_command_module():
    loaded = loaded_after(HELP_RUNS)["audioup"]
    commands = {module for _, module, _ in ENTRIES}
    assert not set(loaded) & commands, loaded
    assert not any(m.startswith(("audioup.commands.", "audioup.train", "audioup.compare")) for m in loaded)


def test_help_and_version_do_not_import_torch():
    assert not loaded_after("import audioup")["torch"]
    assert not loaded_after(HELP_RUNS)["torch"]


def test_a_command_imports_only_its_own_module():
    loaded = loaded_after("from audioup.cli import build_parser\nbuild_parser('train')")["audioup"]
    assert "audioup.commands.train" in loaded
    others = {module for _, module, _ in ENTRIES} - {"audioup.commands.train"}
    assert not set(loaded) & others and not any(m.startswith("audioup.compare") for m in loaded)


@pytest.mark.parametrize("name, module, help_line", ENTRIES)
def test_help_line_is_the_commands_own(name, module, help_line):
    """The command's own parser shows the one help line the table gives it (written once)."""
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    importlib.import_module(module).register(sub, f"marker for {name}")
    assert name in sub.choices and module.startswith("audioup.commands.")
    assert [a.help for a in sub._choices_actions if a.dest == name] == [f"marker for {name}"]
    full = build_parser(name)._subparsers._group_actions[0]
    assert [a.help for a in full._choices_actions if a.dest == name] == [help_line]


def test_every_command_parses_its_help(capsys):
    for name, _, _ in ENTRIES:
        with pytest.raises(SystemExit) as exit_:
            main([name, "--help"])
        assert exit_.value.code == 0
        text = capsys.readouterr().out
        assert f"usage: audioup {name}" in text
        assert "``" not in text and ":func:" not in text and ":mod:" not in text, name


def test_full_parser_builds_and_lists_every_command():
    parser = build_parser("*")
    listed = parser.format_help()
    for name, _, _ in ENTRIES:
        assert name in listed


def test_unknown_command_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["no-such-command"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


@pytest.mark.parametrize("rank, printed", [("0", True), ("1", False)])
def test_missing_filelist_names_the_prepare_script_once_under_torchrun(rank, printed, tmp_path, monkeypatch,
                                                                       capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("extends: " + str(REPO / "recipes" / "tiny.yaml") +
                      "\ndata:\n  files: []\n  filelist: ljspeech/train.txt\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RANK", rank)
    monkeypatch.setenv("WORLD_SIZE", "2")
    code = main(["train", str(recipe), "run_dir=run"])
    err = capsys.readouterr().err
    assert code == 1
    if printed:
        assert err.count("error:") == 1
        assert "ljspeech/train.txt: filelist not found" in err
        assert "python data_scripts/prepare_ljspeech.py ljspeech" in err
    else:
        assert err == ""
    assert not (tmp_path / "run").exists()  # stopped before anything was set up


def test_layers_and_analyze_print_a_flat_layer_alike(capsys):
    assert main(["layers", "--factor", "4", "--in-channels", "4", "--out-channels", "4"]) == 0
    table = capsys.readouterr().out
    row = next(line for line in table.splitlines() if line.startswith("resize-nearest "))
    assert main(["analyze", "--kind", "resize-nearest", "--factor", "4"]) == 0
    report = capsys.readouterr().out
    score = next(line for line in report.splitlines() if "checkerboard score:" in line)
    assert "flat (< -200 dB)" in row and "flat (< -200 dB)" in score
    assert "-300" not in report
    transposed = next(line for line in table.splitlines() if line.startswith("transposed "))
    assert re.search(r"[+-]\d+\.\d dB$", transposed)
