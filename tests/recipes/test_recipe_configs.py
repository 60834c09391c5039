"""Every recipe loads and builds its generator through the training code's own path; every
upsampler kind is one override of a family's file; base.yaml restates no default; a tiny
version of each upsampler kind trains a step."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

REPO = Path(__file__).resolve().parents[2]
RECIPES = REPO / "recipes"
FAMILIES = ["ljspeech/hifigan_v1", "ljspeech/hifigan_v2", "libritts/bigvgan", "offline/hifigan_v1",
            "offline/hifigan_v2"]
KINDS = ["transposed", "resize-nearest", "resize-linear", "subpixel-icnr", "sinc"]
OWN = [RECIPES / f"{f}.yaml" for f in FAMILIES]
OTHERS = sorted(set(RECIPES.rglob("*.yaml")) - set(OWN))  # base.yaml, tiny.yaml and any added later


def _load(path, *overrides, for_run=False):
    """The recipe's config; ``for_run`` also checks what a training run needs (run_dir, data)."""
    from audioup.train.config import load_config

    return load_config(path, overrides, for_run=for_run)


def test_one_file_per_family_no_file_per_kind():
    """Kinds are overrides (model.upsampler=KIND), not files: no recipe is named after a kind."""
    assert all(p.is_file() for p in OWN)
    named = [p for p in RECIPES.rglob("*.yaml") if any(p.stem.endswith("_" + k.replace("-", "_")) for k in KINDS)]
    assert named == []


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", KINDS)
def test_kind_override_changes_only_the_upsampler(family, kind):
    from audioup.train.config import to_dict

    variant = to_dict(_load(RECIPES / f"{family}.yaml", f"model.upsampler={kind}"))
    base = to_dict(_load(RECIPES / f"{family}.yaml"))
    assert variant["model"].pop("upsampler") == kind
    assert base["model"].pop("upsampler") == "transposed"
    assert variant == base


def _leaves(tree, prefix=""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def test_base_yaml_restates_no_default():
    """base.yaml holds only what differs from audioup/train/config.py's defaults (HiFi-GAN's)."""
    from audioup.train.config import TrainConfig, to_dict

    defaults = dict(_leaves(to_dict(TrainConfig(run_dir="???"))))
    restated = [k for k, v in _leaves(yaml.safe_load((RECIPES / "base.yaml").read_text()))
                if k in defaults and defaults[k] == v and k != "run_dir"]
    assert restated == []


def test_v2_differs_from_v1_only_in_preset():
    from audioup.train.config import to_dict

    v1, v2 = (to_dict(_load(RECIPES / "ljspeech" / f"hifigan_{v}.yaml")) for v in ("v1", "v2"))
    assert (v1["model"].pop("preset"), v2["model"].pop("preset")) == ("v1", "v2")
    assert v1 == v2


def test_data_paths_point_into_the_repository_data_folder():
    for path, name in ((RECIPES / "ljspeech" / "hifigan_v1.yaml", "ljspeech"),
                       (RECIPES / "libritts" / "bigvgan.yaml", "libritts")):
        cfg = _load(path)
        assert Path(cfg.data.filelist) == (REPO / "data" / name / "train.txt").resolve()


# parameters with transposed layers: HiFi-GAN paper (V1 13.92M, V2 0.92M), BigVGAN-base 14M
LAYER_CLASS = {"transposed": "TransposedConv1d", "resize-nearest": "ResizeConv1d", "resize-linear": "ResizeConv1d",
               "subpixel-icnr": "SubpixelConv1d", "sinc": "SincConv1d"}
EXPECTED_PARAMS = {"hifigan_v1": 13.92e6, "hifigan_v2": 0.925e6, "bigvgan": 14.0e6}


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_builds_for_every_family(family, kind):
    import audioup.layers as L
    from audioup.train.setup import build_generator_from, generator_config

    torch.set_num_threads(1)
    cfg = _load(RECIPES / f"{family}.yaml", f"model.upsampler={kind}")
    assert cfg.data.files or cfg.data.filelist  # what for_run=True would check besides run_dir
    generator = build_generator_from(generator_config(cfg))
    assert generator.hop_length == cfg.mel.hop_length
    assert generator.sample_rate == cfg.sample_rate and generator.n_mels == cfg.mel.n_mels
    assert generator.upsampler_label == kind
    cls = getattr(L, LAYER_CLASS[kind])
    assert all(isinstance(u, cls) for u in generator.upsamplers)
    if kind.startswith("resize"):  # SincConv1d subclasses ResizeConv1d: check it is not one
        assert not any(isinstance(u, L.SincConv1d) for u in generator.upsamplers)
    assert [u.factor for u in generator.upsamplers] == list(generator.upsample_factors)
    if kind == "transposed":
        n = sum(p.numel() for p in generator.parameters())
        assert n == pytest.approx(EXPECTED_PARAMS[family.split("/")[1]], rel=0.02)


@pytest.mark.parametrize("path", OTHERS, ids=lambda p: p.relative_to(RECIPES).as_posix())
def test_other_recipes_load_and_build(path):
    """Every other recipe in the folder, including ones without data (base.yaml)."""
    from audioup.train.setup import build_generator_from, generator_config

    torch.set_num_threads(1)
    cfg = _load(path)
    generator = build_generator_from(generator_config(cfg))
    assert generator.hop_length == cfg.mel.hop_length and generator.sample_rate == cfg.sample_rate


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory):
    from audioup.data.corpus import build_corpus

    return build_corpus(tmp_path_factory.mktemp("corpus"), variants=2, n_val=1, progress=False)


TINY = ["model.preset=tiny", "max_steps=1", "train.batch_size=2", "data.segment_length=2048",
        "data.valid_count=0", "data.valid_seconds=0.5", "data.num_workers=0", "train.device=cpu",
        "train.progress=false", "train.log_interval=1", "train.checkpoint_interval=1",
        "train.validation_interval=1"]
TINY_DISCRIMINATORS = {"mpd": {"channels": [8, 16, 32, 64, 64]}, "msd": {"width": 0.0625}, "mrd": {"channels": 8}}


@pytest.mark.parametrize("family, kind", [("ljspeech/hifigan_v1", k) for k in KINDS]
                         + [("libritts/bigvgan", "sinc")], ids=lambda v: v.replace("/", "_"))
def test_tiny_version_trains_one_step(family, kind, tiny_corpus, tmp_path):
    from audioup.train.loop import train

    torch.set_num_threads(1)
    cfg = _load(RECIPES / f"{family}.yaml", f"model.upsampler={kind}", *TINY, f"run_dir={tmp_path / 'run'}",
                f"data.filelist={tiny_corpus.filelists['train']}",
                f"data.valid_files=[{tiny_corpus.root / tiny_corpus.clips[0].file}]", for_run=True)
    cfg.model.discriminator_kwargs = {n: TINY_DISCRIMINATORS[n] for n in cfg.model.discriminators}
    lines = []
    run_dir = train(cfg, log=lines.append)
    checkpoints = sorted((Path(run_dir) / "checkpoints").glob("ckpt_*.pt"))
    assert [c.name for c in checkpoints] == ["ckpt_00000001.pt"], lines
    state = torch.load(checkpoints[-1], map_location="cpu", weights_only=True)
    assert state["step"] == 1
    assert state["generator_config"]["kwargs"]["upsampler"] == kind
    assert state["sample_rate"] == cfg.sample_rate
    assert all(torch.isfinite(t).all() for t in state["generator"].values() if t.is_floating_point())
