"""Every recipe loads, builds its generator through the training code's own path, and
differs from its base only where it says; a tiny version of each upsampler kind trains a step."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
RECIPES = REPO / "recipes"
OWN = sorted([*(RECIPES / "ljspeech").glob("hifigan*.yaml"), *(RECIPES / "libritts").glob("bigvgan*.yaml")])
OTHERS = sorted(set(RECIPES.rglob("*.yaml")) - set(OWN))  # base.yaml, tiny.yaml and any added later
KINDS = {"transposed": "transposed", "resize_nearest": "resize-nearest", "resize_linear": "resize-linear",
         "subpixel_icnr": "subpixel-icnr", "sinc": "sinc"}
VARIANTS = [p for p in OWN if any(p.stem.endswith("_" + k) for k in KINDS)]


def _load(path, *overrides, for_run=False):
    """The recipe's config; ``for_run`` also checks what a training run needs (run_dir, data)."""
    from audioup.train.config import load_config

    return load_config(path, overrides, for_run=for_run)


def _kind(path: Path) -> str:
    return next(v for k, v in KINDS.items() if path.stem.endswith("_" + k))


def _base_of(path: Path) -> Path:
    return path.with_name(path.stem[: -len(_kind(path).replace("-", "_")) - 1] + ".yaml")


def test_every_kind_for_every_family():
    families = {"ljspeech/hifigan_v1", "ljspeech/hifigan_v2", "libritts/bigvgan"}
    found = {(_base_of(p).relative_to(RECIPES).with_suffix("").as_posix(), _kind(p)) for p in VARIANTS}
    assert found == {(f, k) for f in families for k in KINDS.values()}


@pytest.mark.parametrize("path", VARIANTS, ids=lambda p: p.relative_to(RECIPES).as_posix())
def test_variant_differs_from_its_base_only_in_the_upsampler(path):
    from audioup.train.config import to_dict

    variant, base = to_dict(_load(path)), to_dict(_load(_base_of(path)))
    assert variant["model"].pop("upsampler") == _kind(path)
    base["model"].pop("upsampler")
    assert variant == base
    assert len(path.read_text().strip().splitlines()) <= 6


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
EXPECTED_PARAMS = {"ljspeech/hifigan_v1": 13.92e6, "ljspeech/hifigan_v2": 0.925e6, "libritts/bigvgan": 14.0e6}


@pytest.mark.parametrize("path", OWN, ids=lambda p: p.relative_to(RECIPES).as_posix())
def test_recipe_builds_its_generator(path):
    import audioup.layers as L
    from audioup.train.setup import build_generator_from, generator_config

    torch.set_num_threads(1)
    cfg = _load(path)
    assert cfg.data.files or cfg.data.filelist  # what for_run=True would check besides run_dir
    generator = build_generator_from(generator_config(cfg))
    assert generator.hop_length == cfg.mel.hop_length
    assert generator.sample_rate == cfg.sample_rate and generator.n_mels == cfg.mel.n_mels
    kind = _kind(path) if path in VARIANTS else "transposed"
    assert generator.upsampler_label == kind
    cls = getattr(L, LAYER_CLASS[kind])
    assert all(isinstance(u, cls) for u in generator.upsamplers)
    if kind.startswith("resize"):  # SincConv1d subclasses ResizeConv1d: check it is not one
        assert not any(isinstance(u, L.SincConv1d) for u in generator.upsamplers)
    assert [u.factor for u in generator.upsamplers] == list(generator.upsample_factors)
    family = (_base_of(path) if path in VARIANTS else path).relative_to(RECIPES).with_suffix("").as_posix()
    if kind == "transposed":
        n = sum(p.numel() for p in generator.parameters())
        assert n == pytest.approx(EXPECTED_PARAMS[family], rel=0.02)


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


@pytest.mark.parametrize("path", [RECIPES / "ljspeech" / f"hifigan_v1_{k}.yaml" for k in KINDS]
                         + [RECIPES / "libritts" / "bigvgan_sinc.yaml"], ids=lambda p: p.stem)
def test_tiny_version_trains_one_step(path, tiny_corpus, tmp_path):
    from audioup.train.loop import train

    torch.set_num_threads(1)
    cfg = _load(path, *TINY, f"run_dir={tmp_path / 'run'}", f"data.filelist={tiny_corpus.filelists['train']}",
                f"data.valid_files=[{tiny_corpus.root / tiny_corpus.clips[0].file}]", for_run=True)
    cfg.model.discriminator_kwargs = {n: TINY_DISCRIMINATORS[n] for n in cfg.model.discriminators}
    lines = []
    run_dir = train(cfg, log=lines.append)
    checkpoints = sorted((Path(run_dir) / "checkpoints").glob("ckpt_*.pt"))
    assert [c.name for c in checkpoints] == ["ckpt_00000001.pt"], lines
    state = torch.load(checkpoints[-1], map_location="cpu", weights_only=True)
    assert state["step"] == 1
    assert state["generator_config"]["kwargs"]["upsampler"] == _kind(path)
    assert state["sample_rate"] == cfg.sample_rate
    assert all(torch.isfinite(t).all() for t in state["generator"].values() if t.is_floating_point())
