"""Reference-based vocoder metrics: generated audio against its ground truth.

- :func:`mrstft_distance`: multi-resolution STFT distance (spectral convergence +
  mean absolute log-magnitude difference, averaged over the usual resolutions
  FFT 1024/2048/512, hop 120/240/50, window 600/1200/240). 0 when identical.
- :func:`mel_l1_distance`: mean absolute difference of log-mel spectrograms
  (:class:`audioup.audio.MelSpectrogram`, full band). 0 when identical.
- :func:`log_spectral_distance`: per-frame RMS of the dB difference of the power
  spectra, averaged over frames (dB). 0 when identical.
- Optional, from the well-kept packages when installed (``pip install
  audioup[metrics]``): :func:`pesq_wb` (ITU-T P.862.2 wide band at 16 kHz, 4.64
  at best), :func:`stoi` (1 at best), :func:`periodicity` (periodicity RMSE and
  voiced/unvoiced F1 from torchcrepe, as CARGAN defines them; 0 and 1 at best).
  A missing package raises :class:`MetricUnavailable` ("not installed");
  :func:`reference_metrics` records it instead of failing.

Every metric is called ``metric(gen, ref, sample_rate, *, options)``. Inputs
are ``(T,)`` arrays or tensors at the same rate; the longer one is cut to
the shorter. Long signals are processed in segments of ``segment_s`` seconds so
memory stays bounded.
"""
from __future__ import annotations

import warnings
from typing import Dict, Iterable, Optional, Sequence, Tuple

import numpy as np

from ..audio.io import resample
from .stationary import _as_numpy

# torch (and audio.stft / audio.mel, which import it) and the optional packages are imported
# inside the functions that use them: `audioup measure` and `import audioup.metrics` load no torch.

OPTIONAL_METRICS = ("pesq_wb", "stoi", "periodicity")


class MetricUnavailable(RuntimeError):
    """An optional metric that cannot be computed here (package missing, or it declined)."""


def _pair(gen, ref) -> Tuple[np.ndarray, np.ndarray]:
    gen, ref = _as_numpy(gen), _as_numpy(ref)
    n = min(len(gen), len(ref))
    if n == 0:
        raise ValueError("empty waveform")
    return gen[:n], ref[:n]


def _segments(n: int, length: int) -> Iterable[slice]:
    for start in range(0, n, length):
        if start and n - start < length // 4:  # fold a short tail into the previous segment
            break
        stop = n if n - (start + length) < length // 4 else start + length
        yield slice(start, stop)
        if stop == n:
            break


def mrstft_distance(gen, ref, sample_rate: Optional[float] = None, *,
                    resolutions: Optional[Sequence[Tuple[int, int, int]]] = None,
                    segment_s: float = 30.0) -> float:
    """Multi-resolution STFT distance (Yamamoto et al., Parallel WaveGAN 2020).

    For each ``(n_fft, hop, win)`` (default :data:`audioup.audio.stft.STFT_RESOLUTIONS`):
    ``||S_r - S_g||_F / ||S_r||_F + mean|log S_r - log S_g|``; the result is the mean
    over resolutions. The training loss :func:`audioup.models.losses.multi_resolution_stft_loss`
    computes the same from the same :func:`~audioup.audio.stft.stft_magnitude`; here the
    norms and the mean are summed over segments, so a long file is measured in bounded
    memory. ``sample_rate`` only sets the segment length for long inputs (default 22050).
    """
    import torch

    from ..audio.stft import STFT_RESOLUTIONS, stft_magnitude  # imports torch: not at the top (measure path)

    gen, ref = _pair(gen, ref)
    seg = int(segment_s * (sample_rate or 22050))
    resolutions = STFT_RESOLUTIONS if resolutions is None else resolutions
    total = 0.0
    with torch.no_grad():
        for n_fft, hop, win in resolutions:
            window = torch.hann_window(win)
            diff2 = ref2 = logsum = 0.0
            count = 0
            for s in _segments(len(gen), seg):
                mg, mr = (stft_magnitude(torch.from_numpy(x[s]), n_fft, hop, window) for x in (gen, ref))
                diff2 += float((mr - mg).pow(2).sum())
                ref2 += float(mr.pow(2).sum())
                logsum += float((mr.log() - mg.log()).abs().sum())
                count += mr.numel()
            total += np.sqrt(diff2) / max(np.sqrt(ref2), 1e-12) + logsum / count
    return float(total / len(resolutions))


def mel_l1_distance(gen, ref, sample_rate: float, *, n_fft: int = 1024, hop_length: int = 256,
                    n_mels: int = 80, segment_s: float = 30.0) -> float:
    """Mean ``|log mel(gen) - log mel(ref)|`` (HiFi-GAN's validation "mel error", full band)."""
    import torch

    from ..audio.mel import MelSpectrogram

    gen, ref = _pair(gen, ref)
    mel = MelSpectrogram(int(sample_rate), n_fft=n_fft, hop_length=hop_length, win_length=n_fft,
                         n_mels=n_mels, f_max=None)
    seg = max(hop_length, int(segment_s * sample_rate) // hop_length * hop_length)
    total, count = 0.0, 0
    with torch.no_grad():
        for s in _segments(len(gen), seg):
            g, r = gen[s], ref[s]
            if len(g) < hop_length:  # MelSpectrogram gives T // hop frames
                g = np.pad(g, (0, hop_length - len(g)))
                r = np.pad(r, (0, hop_length - len(r)))
            d = (mel(torch.from_numpy(g)[None]) - mel(torch.from_numpy(r)[None])).abs()
            total += float(d.sum())
            count += d.numel()
    return total / count


def log_spectral_distance(gen, ref, sample_rate: Optional[float] = None, *, n_fft: int = 2048,
                          hop_length: int = 512, segment_s: float = 30.0) -> float:
    """Log-spectral distance in dB: mean over frames of ``sqrt(mean_f (10 log10 P_r/P_g)^2)``.

    ``sample_rate`` only sets the segment length for long inputs (default 22050),
    as in :func:`mrstft_distance`. (Before the metrics shared one signature,
    ``n_fft`` was the third positional argument; it is keyword-only now.)
    """
    import torch

    from ..audio.stft import stft_magnitude  # imports torch: not at the top (measure path)

    gen, ref = _pair(gen, ref)
    seg = max(n_fft, int(segment_s * (sample_rate or 22050)))
    window = torch.hann_window(n_fft)
    total, frames = 0.0, 0
    with torch.no_grad():
        for s in _segments(len(gen), seg):
            pg = stft_magnitude(torch.from_numpy(gen[s]), n_fft, hop_length, window).pow(2).clamp_min(1e-10)
            pr = stft_magnitude(torch.from_numpy(ref[s]), n_fft, hop_length, window).pow(2).clamp_min(1e-10)
            d = (10 * torch.log10(pr / pg)).pow(2).mean(dim=0).sqrt()
            total += float(d.sum())
            frames += d.numel()
    return total / frames


def _to_16k(x: np.ndarray, sample_rate: float) -> np.ndarray:
    return resample(x, int(sample_rate), 16000) if int(sample_rate) != 16000 else x


def pesq_wb(gen, ref, sample_rate: float) -> float:
    """Wide-band PESQ (MOS-LQO, -0.5..4.64) with the ``pesq`` package, at 16 kHz.

    Raises:
        MetricUnavailable: ``pesq`` not installed, or it found no speech.
    """
    try:
        from pesq import pesq
    except ImportError:
        raise MetricUnavailable("not installed (pip install pesq)") from None
    gen, ref = _pair(gen, ref)
    if not (np.abs(ref).max() > 0 and np.abs(gen).max() > 0):
        raise MetricUnavailable("pesq needs speech; a signal is silent")
    try:
        return float(pesq(16000, _to_16k(ref, sample_rate), _to_16k(gen, sample_rate), "wb"))
    except Exception as exc:  # NoUtterancesError, BufferTooShortError, ...
        raise MetricUnavailable(f"pesq failed: {type(exc).__name__}: {exc}") from None


def stoi(gen, ref, sample_rate: float, *, extended: bool = False) -> float:
    """Short-time objective intelligibility (0..1) with ``pystoi``.

    Raises:
        MetricUnavailable: ``pystoi`` not installed, or the reference is too short or too
            quiet for it (pystoi would return 1e-5).
    """
    try:
        from pystoi import stoi as _stoi
    except ImportError:
        raise MetricUnavailable("not installed (pip install pystoi)") from None
    gen, ref = _pair(gen, ref)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(_stoi(ref.astype(np.float64), gen.astype(np.float64), int(sample_rate), extended=extended))
    if any("Not enough STFT frames" in str(w.message) for w in caught):  # pystoi then returns 1e-5
        raise MetricUnavailable("too little sound in the reference for STOI (pystoi needs 30 frames "
                                "of 25.6 ms within 40 dB of its loudest)")
    return value


def periodicity(gen, ref, sample_rate: float, *, model: str = "tiny", hop_ms: float = 5.0,
                fmin: float = 50.0, fmax: float = 550.0) -> Dict[str, float]:
    """Periodicity RMSE and voiced/unvoiced F1 (CARGAN, Morrison et al. 2022) with torchcrepe.

    Both signals go to 16 kHz; torchcrepe gives pitch and periodicity every
    ``hop_ms``; frames quieter than -60 dB count as aperiodic; voicing is
    torchcrepe's hysteresis threshold on periodicity. ``periodicity_rmse`` is
    the RMS difference of periodicity over all frames; ``vuv_f1`` the F1 of the
    generated voicing against the reference's. Differences from CARGAN: the
    ``tiny`` CREPE by default (``full`` is about 20x slower on a CPU; pass
    ``model="full"`` to match the paper) and weighted-argmax decoding (torchcrepe's
    Viterbi decoding gave pitches differing by Hz between identical runs here,
    which moves the hysteresis threshold).

    Raises:
        MetricUnavailable: ``torchcrepe`` not installed.
    """
    try:
        import torch
        import torchcrepe
    except ImportError:
        raise MetricUnavailable("not installed (pip install torchcrepe)") from None
    gen, ref = _pair(gen, ref)
    hop = int(round(16000 * hop_ms / 1000))
    out = []
    with torch.no_grad():
        for x in (gen, ref):
            audio = torch.from_numpy(np.ascontiguousarray(_to_16k(x, sample_rate)))[None]
            pitch, per = torchcrepe.predict(audio, 16000, hop, fmin, fmax, model=model,
                                            return_periodicity=True, batch_size=512, pad=True,
                                            decoder=torchcrepe.decode.weighted_argmax)
            per = torchcrepe.threshold.Silence(-60.0)(per, audio, 16000, hop)
            with warnings.catch_warnings():  # an all-unvoiced clip: numpy's empty-slice warnings
                warnings.simplefilter("ignore", RuntimeWarning)
                voiced = ~torch.isnan(torchcrepe.threshold.Hysteresis()(pitch, per))
            out.append((per[0], voiced[0]))
    (pg, vg), (pr, vr) = out
    n = min(len(pg), len(pr))
    pg, pr, vg, vr = pg[:n], pr[:n], vg[:n], vr[:n]
    tp = float((vg & vr).sum())
    fp, fn = float((vg & ~vr).sum()), float((~vg & vr).sum())
    f1 = 1.0 if tp + fp + fn == 0 else 2 * tp / (2 * tp + fp + fn)
    return {"periodicity_rmse": float(torch.sqrt(((pg - pr) ** 2).mean())), "vuv_f1": f1}


def reference_metrics(gen, ref, sample_rate: float, *, optional: Sequence[str] = OPTIONAL_METRICS,
                      crepe_model: str = "tiny") -> dict:
    """All reference-based metrics as a flat dict.

    Keys: ``mrstft``, ``mel_l1``, ``lsd_db``, and for the ``optional`` ones
    ``pesq_wb``, ``stoi``, ``periodicity_rmse``, ``vuv_f1`` (``None`` when not
    computed), and with ``"mos"`` asked for, ``mos`` and ``reference_mos``: DistillMOS's
    no-reference estimate of each (:mod:`audioup.metrics.mos`). ``unavailable`` maps each optional metric that could not be
    computed to the reason (e.g. ``"not installed (pip install pesq)"``).
    """
    gen, ref = _pair(gen, ref)  # once, not in every metric (a GPU tensor is copied over once)
    out = {"mrstft": mrstft_distance(gen, ref, sample_rate),
           "mel_l1": mel_l1_distance(gen, ref, sample_rate),
           "lsd_db": log_spectral_distance(gen, ref, sample_rate),
           "pesq_wb": None, "stoi": None, "periodicity_rmse": None, "vuv_f1": None,
           "unavailable": {}}
    for name in optional:
        try:
            if name == "pesq_wb":
                out["pesq_wb"] = pesq_wb(gen, ref, sample_rate)
            elif name == "stoi":
                out["stoi"] = stoi(gen, ref, sample_rate)
            elif name == "periodicity":
                out.update(periodicity(gen, ref, sample_rate, model=crepe_model))
            elif name == "mos":  # no reference: DistillMOS of the generated audio (and of the reference)
                from .mos import distill_mos
                out["mos"], out["reference_mos"] = distill_mos(gen, sample_rate), distill_mos(ref, sample_rate)
            else:
                raise ValueError(f"unknown optional metric {name!r}; known: {', '.join(OPTIONAL_METRICS + ('mos',))}")
        except MetricUnavailable as exc:
            out["unavailable"][name] = str(exc)
    return out
