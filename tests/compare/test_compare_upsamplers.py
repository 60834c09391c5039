"""compare_upsamplers on a tiny setting: every kind at initialisation and after one step."""
from __future__ import annotations

import importlib.util
import math
import re
from pathlib import Path

import pytest
import torch

from audioup.compare import KINDS, CompareError, compare_upsamplers

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "recipes" / "tiny.yaml"
FAST = ["train.progress=false", "train.checkpoint_interval=1", "train.validation_interval=1000",
        "data.valid_seconds=0.5"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from audioup.data.corpus import build_corpus

    return build_corpus(tmp_path_factory.mktemp("corpus"), variants=2, n_val=1, progress=False)


def _overrides(corpus):
    return ["data.files=[]", f"data.filelist={corpus.filelists['train']}",
            f"data.valid_files=[{corpus.filelists['val']}]", *FAST]


@pytest.fixture(scope="module")
def comparison(corpus, tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("cmp") / "out"
    lines = []
    comp = compare_upsamplers(RECIPE, out, steps=1, overrides=_overrides(corpus),
                              test_files=[corpus.filelists["test"]], max_test_files=1, log=lines.append,
                              periodicity=False)  # torchcrepe is slow on CPU: tested in test_report_honesty
    return comp, lines


def parse_tables(markdown: str):
    """``{section title: [row dicts]}`` for every Markdown table under a ``##`` heading."""
    tables, title, header = {}, None, None
    for line in markdown.splitlines():
        if line.startswith("## "):
            title, header = line[3:].strip(), None
        elif line.startswith("|") and title:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if header is None:
                header = cells
            elif not set("".join(cells)) <= set("-: "):
                tables.setdefault(title, []).append(dict(zip(header, cells)))
    return tables


def number(cell: str) -> float:
    cell = cell.split(" (")[0]  # speed: "290× (250×)", the slowest round in brackets
    m = re.fullmatch(r"([+-]?\d+(?:\.\d+)?)([kM×]?)", cell)
    assert m, f"not a number: {cell!r}"
    return float(m.group(1)) * {"k": 1e3, "M": 1e6}.get(m.group(2), 1.0)


@pytest.mark.slow  # shares the ~20 s comparison fixture
def test_report_has_a_row_per_kind_with_finite_numbers(comparison):
    comp, _ = comparison
    tables = parse_tables(comp.report.read_text())
    assert set(tables) == {"At initialisation (step 0)", "After 1 training step"}
    pesq_installed = importlib.util.find_spec("pesq") is not None
    for title, rows in tables.items():
        by_kind = {r["upsampler"]: r for r in rows}
        assert set(KINDS) <= set(by_kind), title
        for kind in KINDS:
            row = by_kind[kind]
            for column, cell in row.items():
                if column == "upsampler" or (column.startswith("PESQ") and not pesq_installed):
                    continue
                if column.startswith(("periodicity", "V/UV")):
                    assert cell == "n/a"  # left out on purpose (periodicity=False)
                    continue
                if column.startswith("speed") and cell.startswith("busy"):
                    continue  # a loaded machine: left out on purpose
                assert math.isfinite(number(cell)), (title, kind, column, cell)
        # the kinds differ only in the upsampling layers: subpixel has the most parameters
        params = {k: number(by_kind[k]["params"]) for k in KINDS}
        assert max(params, key=params.get) == "subpixel-icnr"


@pytest.mark.slow  # shares the ~20 s comparison fixture
def test_transposed_starts_with_lines_nearest_resize_does_not(comparison):
    comp, _ = comparison
    rows = {r["upsampler"]: r for r in parse_tables(comp.report.read_text())["At initialisation (step 0)"]}
    tonal = {k: number(rows[k]["tonal score (dB) ↓"]) for k in rows}
    assert tonal["transposed"] > tonal["resize-nearest"] + 15
    assert tonal["resize-nearest"] < tonal["real audio (test set)"] + 5
    # the JSON record behind the table agrees with it
    assert comp.results[0]["transposed"]["tonal_score_db"] == pytest.approx(tonal["transposed"], abs=0.05)


@pytest.mark.slow  # shares the ~20 s comparison fixture
def test_figures_and_audio_are_written(comparison):
    comp, _ = comparison
    import matplotlib.image

    for name in ("spectra.png", "per_layer.png"):
        path = comp.out_dir / name
        assert path.read_bytes()[:8] == PNG_MAGIC
        height, width = matplotlib.image.imread(path).shape[:2]
        assert height > 300 and width > 600
        assert f"]({name})" in comp.report.read_text()
    wavs = sorted((comp.out_dir / "audio").rglob("*.wav"))
    assert len(wavs) == 2 * len(KINDS)  # one test clip, two stages


def test_kind_configs_differ_only_where_they_should(tmp_path):
    """Each kind's config is the recipe read once, with its upsampler, run folder and steps."""
    import dataclasses

    from audioup.compare.runner import kind_configs
    from audioup.train.config import ConfigError, load_config

    files = ["data.files=[x.wav]", "optim.lr=1e-3"]
    cfgs = kind_configs(RECIPE, tmp_path, ["sinc", "resize-linear"], 3, files)
    for kind, cfg in cfgs.items():
        run_dir = tmp_path / "runs" / kind.replace("-", "_")
        assert cfg == load_config(RECIPE, [*files, "max_steps=3", f"model.upsampler={kind}",
                                           f"run_dir={run_dir}"])
    assert dataclasses.replace(cfgs["sinc"], run_dir="", model=None) == \
        dataclasses.replace(cfgs["resize-linear"], run_dir="", model=None)
    assert kind_configs(RECIPE, tmp_path, ["sinc"], None, files)["sinc"].max_steps == \
        load_config(RECIPE, files, for_run=False).max_steps
    with pytest.raises(ConfigError, match="max_steps must be >= 1"):
        kind_configs(RECIPE, tmp_path, ["sinc"], 0, files)
    with pytest.raises(ConfigError, match="no training audio"):
        kind_configs(RECIPE, tmp_path, ["sinc"], 1, ["data.files=[]"])
    with pytest.raises(CompareError, match="use --steps"):
        kind_configs(RECIPE, tmp_path, ["sinc"], 1, ["max_steps=4"])


def test_at_init_is_the_weights_training_starts_from(corpus, tmp_path):
    from audioup.compare.runner import initial_vocoder, kind_configs
    from audioup.train.distributed import DistInfo
    from audioup.train.setup import build_context

    cfg = kind_configs(RECIPE, tmp_path, ["sinc"], 1, _overrides(corpus))["sinc"]
    torch.manual_seed(cfg.seed)  # as audioup.train.loop.train does
    ctx = build_context(cfg, torch.device("cpu"), DistInfo(), log=lambda *_: None)
    ctx.generator.remove_weight_norm()
    mel = torch.randn(1, cfg.mel.n_mels, 12)
    with torch.no_grad():
        assert torch.equal(ctx.generator.eval()(mel), initial_vocoder(cfg).generator(mel))


@pytest.mark.slow  # shares the ~20 s comparison fixture
def test_rerun_reuses_results_and_other_settings_are_refused(comparison, corpus):
    comp, _ = comparison
    ckpt = comp.out_dir / "runs" / "sinc" / "checkpoints" / "ckpt_00000001.pt"
    stamp = ckpt.stat().st_mtime_ns
    lines = []
    again = compare_upsamplers(RECIPE, comp.out_dir, kinds=["sinc", "transposed"], steps=1,
                               overrides=_overrides(corpus), test_files=[corpus.filelists["test"]],
                               max_test_files=1, speed=False, log=lines.append)
    assert sum("reused" in line for line in lines) == 4
    assert not any(": training" in line for line in lines), lines
    assert ckpt.stat().st_mtime_ns == stamp
    assert again.results[1]["sinc"]["mel_l1"] == comp.results[1]["sinc"]["mel_l1"]
    # the kinds not asked for this time stay in the report, in the usual order
    assert again.kinds == list(KINDS)
    rows = parse_tables(again.report.read_text())["After 1 training step"]
    assert [r["upsampler"] for r in rows][1:] == list(KINDS)

    report = comp.report.read_bytes()
    with pytest.raises(CompareError, match="other settings.*optim.lr"):
        compare_upsamplers(RECIPE, comp.out_dir, steps=1, overrides=[*_overrides(corpus), "optim.lr=1e-3"],
                           test_files=[corpus.filelists["test"]], max_test_files=1, log=lambda *_: None)
    assert comp.report.read_bytes() == report


def test_refuses_a_folder_that_is_not_a_comparison(corpus, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(CompareError, match="not a comparison folder"):
        compare_upsamplers(RECIPE, tmp_path, steps=1, overrides=_overrides(corpus), log=lambda *_: None)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize("kinds, overrides, message", [
    (["transposed", "warp"], [], "unknown"),
    (["transposed", "max_steps=3"], [], "key=value overrides go right after CONFIG"),
    (KINDS, ["model.upsampler=sinc"], "use --kinds"),
    (KINDS, ["train.max_minutes=1"], "use --minutes"),
])
def test_bad_requests_are_named(corpus, tmp_path, kinds, overrides, message):
    with pytest.raises(CompareError, match=message):
        compare_upsamplers(RECIPE, tmp_path / "out", kinds=kinds, steps=1,
                           overrides=[*_overrides(corpus), *overrides], log=lambda *_: None)
    assert not (tmp_path / "out").exists()


def test_cli_init_only_prints_the_table(corpus, tmp_path, capsys):
    from audioup.cli import main

    code = main(["compare", str(RECIPE), *_overrides(corpus), "--out", str(tmp_path / "cmp"),
                 "--kinds", "transposed", "subpixel-icnr", "--init-only", "--no-speed",
                 "--test", str(corpus.filelists["test"]), "--max-test-files", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "At initialisation (step 0):" in out and "After" not in out
    rows = [line.split() for line in out.splitlines() if line.startswith(("transposed", "subpixel-icnr"))]
    assert [r[0] for r in rows] == ["transposed", "subpixel-icnr"]
    assert not (tmp_path / "cmp" / "runs").exists()  # nothing trained


def test_fewer_steps_than_a_pruned_run_fails_before_touching_the_report(corpus, tmp_path):
    out = tmp_path / "cmp"
    args = dict(kinds=["transposed"], test_files=[corpus.filelists["test"]], max_test_files=1,
                speed=False, pesq=False, log=lambda *_: None)
    comp = compare_upsamplers(RECIPE, out, steps=2, overrides=[*_overrides(corpus), "train.keep_last=1"], **args)
    report = comp.report.read_bytes()
    assert "After 2 training steps" in report.decode()
    with pytest.raises(CompareError, match="no checkpoint at step 1 .kept: 2."):
        compare_upsamplers(RECIPE, out, steps=1, overrides=[*_overrides(corpus), "train.keep_last=1"], **args)
    assert comp.report.read_bytes() == report  # the step-2 results are still there


def test_out_that_is_a_file_and_an_override_after_test_are_named(corpus, tmp_path):
    file = tmp_path / "file.txt"
    file.write_text("mine")
    with pytest.raises(CompareError, match="is a file, not a folder"):
        compare_upsamplers(RECIPE, file, steps=1, overrides=_overrides(corpus), log=lambda *_: None)
    with pytest.raises(CompareError, match="'max_steps=3' is not a test file; key=value overrides go"):
        compare_upsamplers(RECIPE, tmp_path / "out", steps=1, overrides=_overrides(corpus),
                           test_files=[corpus.filelists["test"], "max_steps=3"], log=lambda *_: None)
    assert file.read_text() == "mine" and not (tmp_path / "out").exists()


def test_cli_no_periodicity_leaves_torchcrepe_out(corpus, tmp_path, monkeypatch):
    """`compare --no-periodicity` (issue 23, P10): torchcrepe is never called, the report says so."""
    from audioup.cli import main
    from audioup.metrics import reference

    def crepe_called(*args, **kwargs):
        raise AssertionError("periodicity computed despite --no-periodicity")

    monkeypatch.setattr(reference, "periodicity", crepe_called)
    code = main(["compare", str(RECIPE), *_overrides(corpus), "--out", str(tmp_path / "cmp"),
                 "--kinds", "transposed", "--init-only", "--no-speed", "--no-periodicity",
                 "--test", str(corpus.filelists["test"]), "--max-test-files", "1"])
    assert code == 0
    assert "periodicity and V/UV F1: left out" in (tmp_path / "cmp" / "report.md").read_text()


@pytest.mark.slow
def test_minutes_gives_every_kind_the_same_training_time(corpus, tmp_path):
    """--minutes: each kind trains for the same time and is evaluated at the step it reached,
    shown beside its name; the stage has its own folders; a rerun reuses the results."""
    torch.set_num_threads(1)
    out, kinds = tmp_path / "out", ["transposed", "vocos"]
    overrides = [o for o in _overrides(corpus) if not o.startswith("train.checkpoint_interval")]
    args = dict(kinds=kinds, minutes=0.03, init=False, overrides=[*overrides, "model.preset=tiny",
                "train.checkpoint_interval=100000"], test_files=[corpus.filelists["test"]], max_test_files=1,
                speed=False, periodicity=False, log=lambda *_: None)
    comp = compare_upsamplers(RECIPE, out, **args)
    assert comp.stages == ["0.03min"]
    records = {k: comp.results["0.03min"][k] for k in kinds}
    for kind, rec in records.items():
        assert "error" not in rec, rec
        assert rec["train_minutes"] >= 0.03 and rec["step"] >= 1
        ckpt = torch.load(out / "runs" / kind / "checkpoints" / f"ckpt_{rec['step']:08d}.pt",
                          map_location="cpu", weights_only=True)
        assert ckpt["train_seconds"] == pytest.approx(60 * rec["train_minutes"])
        assert (out / "results" / "budget_0.03min" / f"{kind}.json").is_file()
    tables = parse_tables((out / "report.md").read_text())
    [section] = [t for t in tables if t.startswith("After 0.03 minutes of training")]
    names = [row["upsampler"] if "upsampler" in row else list(row.values())[0] for row in tables[section]]
    for kind, rec in records.items():
        assert f"{kind} ({rec['step']} steps)" in names
    assert "0.03 minutes of training time per kind (`train.max_minutes`, in wall time" in (out / "report.md").read_text()
    again = compare_upsamplers(RECIPE, out, **args)
    assert again.results["0.03min"]["vocos"]["step"] == records["vocos"]["step"]
