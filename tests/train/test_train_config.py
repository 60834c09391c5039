"""Config: YAML ``extends``, overrides, path resolution and clear errors."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from audioup.train.config import ConfigError, from_dict, load_config, to_dict

REPO = Path(__file__).resolve().parents[2]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_recipe_extends_base_and_resolves_data_against_its_own_folder():
    cfg = load_config(REPO / "recipes" / "tiny.yaml", ["run_dir=somewhere"])
    assert cfg.model.preset == "tiny" and cfg.model.generator == "hifigan"  # tiny's and base's
    assert cfg.optim.lr == pytest.approx(2e-4) and cfg.optim.betas == (0.8, 0.99)
    assert cfg.optim.lr_decay == pytest.approx(0.999)
    assert cfg.data.files == [str((REPO / "data" / "cmu_arctic").resolve())]
    assert cfg.sample_rate == 22050


def test_overrides_types_and_nested_keys(tmp_path):
    base = write(tmp_path / "conf" / "base.yaml", "run_dir: ???\ndata: {files: [audio]}\n")
    child = write(tmp_path / "conf" / "sub" / "child.yaml",
                  "extends: ../base.yaml\nmax_steps: 7\nmodel: {kwargs: {upsample_initial_channel: 16}}\n")
    cfg = load_config(child, ["run_dir=out", "optim.lr=1e-3", "model.upsampler={kind: resize, mode: linear}",
                              "train.precision=bf16", "optim.grad_clip=null", "data.segment_length=512"])
    assert cfg.max_steps == 7 and cfg.optim.lr == pytest.approx(1e-3)
    assert cfg.model.upsampler == {"kind": "resize", "mode": "linear"}
    assert cfg.model.kwargs == {"upsample_initial_channel": 16}
    assert cfg.optim.grad_clip is None and cfg.data.segment_length == 512
    assert cfg.data.files == [str(base.parent / "audio")]  # relative to base.yaml, where it is written
    assert from_dict(to_dict(cfg), "round trip") == cfg


@pytest.mark.parametrize("override, message", [
    ("optim.lrr=1", "unknown key optim.lrr"),
    ("max_steps=many", "max_steps must be a number"),
    ("train.precision=fp8", "train.precision must be one of"),
    ("train.clock=gpu", "train.clock must be one of wall, cpu"),
    ("data.segment_length=1000", "multiple of mel.hop_length"),
    ("max_steps", "expected key=value"),
])
def test_bad_overrides_name_the_key(tmp_path, override, message):
    conf = write(tmp_path / "c.yaml", "data: {files: [x]}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(conf, ["run_dir=r", override])


def test_required_run_dir_and_missing_extends(tmp_path):
    conf = write(tmp_path / "c.yaml", "extends: base.yaml\n")
    with pytest.raises(ConfigError, match="base.yaml: config file not found"):
        load_config(conf)
    with pytest.raises(ConfigError, match="run_dir is required"):
        load_config(REPO / "recipes" / "tiny.yaml")


@pytest.mark.parametrize("override, message", [
    ("optim.lr=-1", r"optim.lr must be in \(0, 1\] \(got -1.0\)"),
    ("optim.lr=0", r"optim.lr must be in \(0, 1\]"),
    ("optim.lr=3e38", r"optim.lr must be in \(0, 1\] \(got 3e\+38\)"),
    ("optim.lr=.nan", "optim.lr must be"),
    ("mel.hop_length=0", "mel.hop_length must be >= 1"),
    ("mel.n_mels=0", r"mel.n_mels must be in \[1, 1024\]"),
    ("optim.betas=[2,3]", r"optim.betas\[0\] must be in \[0, 1\)"),
    ("train.threads=-1", "train.threads must be in"),
    ("train.threads=0", "train.threads must be in"),
    ("data.num_workers=-1", "data.num_workers must be in"),
    ("train.max_minutes=-1", "train.max_minutes must be >= 0"),
    ("train.max_minutes=.inf", "train.max_minutes must be >= 0"),
    ("mel.f_max=20000", r"mel.f_max must be in \(mel.f_min, sample_rate / 2\]"),
    ("sample_rate=10", "sample_rate must be in"),
    ("max_steps=1e30", "max_steps must be at most"),
    ("mel.n_fft=128", r"mel.hop_length \(256\) must be <= mel.n_fft \(128\)"),
])
def test_out_of_range_values_name_the_key(tmp_path, override, message):
    conf = write(tmp_path / "c.yaml", "data: {files: [x]}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(conf, [f"run_dir={tmp_path / 'r'}", override])


def test_exponent_numbers_and_run_dir_that_is_a_file(tmp_path):
    conf = write(tmp_path / "c.yaml", "data: {files: [x]}\n")
    assert load_config(conf, [f"run_dir={tmp_path / 'r'}", "max_steps=1e6"]).max_steps == 1_000_000
    file = write(tmp_path / "f.txt", "x")
    with pytest.raises(ConfigError, match=f"run_dir {file}: is a file"):
        load_config(conf, [f"run_dir={file}"])
    with pytest.raises(ConfigError, match=f"is below {file}, which is a file"):
        load_config(conf, [f"run_dir={file}/sub"])


def test_parsing_without_a_run_still_checks_values(tmp_path):
    """``for_run=False`` reads a recipe with no run_dir and no data; bad values are still refused."""
    from audioup.train.config import validate_run

    cfg = load_config(REPO / "recipes" / "tiny.yaml", ["data.files=[]"], for_run=False)
    assert cfg.run_dir == "???" and cfg.model.preset == "tiny"
    with pytest.raises(ConfigError, match="run_dir is required"):
        validate_run(cfg)
    with pytest.raises(ConfigError, match=r"optim.lr must be in \(0, 1\]"):
        load_config(REPO / "recipes" / "tiny.yaml", ["optim.lr=2"], for_run=False)
    conf = write(tmp_path / "c.yaml", "max_steps: 3\n")
    with pytest.raises(ConfigError, match="no training audio"):
        validate_run(dataclasses.replace(load_config(conf, for_run=False), run_dir=str(tmp_path / "r")))


def test_a_derived_config_is_checked_again(tmp_path):
    """Variants made with dataclasses.replace go through the same checks as a parsed file."""
    from audioup.train.config import validate

    conf = write(tmp_path / "c.yaml", "data: {files: [x]}\n")
    base = load_config(conf, for_run=False)
    variant = dataclasses.replace(base, run_dir=str(tmp_path / "r"),
                                  model=dataclasses.replace(base.model, upsampler="resize-linear"))
    validate(variant)
    assert variant == load_config(conf, [f"run_dir={tmp_path / 'r'}", "model.upsampler=resize-linear"])
    with pytest.raises(ConfigError, match="max_steps must be >= 1"):
        validate(dataclasses.replace(variant, max_steps=0))
    file = write(tmp_path / "f.txt", "x")
    with pytest.raises(ConfigError, match=f"run_dir {file}: is a file"):
        validate(dataclasses.replace(variant, run_dir=str(file)))
