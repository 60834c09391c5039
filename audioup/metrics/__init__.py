"""Tonal-artifact metrics and the standard vocoder metrics.

Modules:
    tones       where a schedule of upsampling factors puts its lines
                (:func:`predicted_tones`, attributed to layers) and the FFT size
                that puts them on bins (:func:`default_n_fft`).
    stationary  the stationary spectrum: per-bin median over STFT frames,
                streamed in bounded memory (:class:`StationarySpectrum`,
                :func:`stationary_spectrum`).
    tonal       the tonal score v2 (:func:`tonal_score`: null-corrected
                prominence of the predicted lines in the active frames, pause
                figure, bands, blind hop estimate, warnings) and blind line
                detection (:func:`detect_tones`).
    record      one measurement record for every caller (:class:`Measurement`,
                :func:`measure_signal`).
    reference   against a ground truth: MR-STFT, log-mel L1, log-spectral
                distance, and PESQ / STOI / periodicity when their packages are
                installed (:func:`reference_metrics`).
    measure     one record per file (:func:`measure_file`), folders and
                parallel jobs (:func:`measure_files`).
    writer      the ``--json``/``--csv`` files, appended record by record so an
                interrupted run keeps what finished (:class:`RecordWriter`).
    plot        the stationary spectrum with predicted and detected lines above
                a spectrogram (:func:`plot_tonal`).
"""
from .reference import (
    MetricUnavailable,
    log_spectral_distance,
    mel_l1_distance,
    mrstft_distance,
    periodicity,
    pesq_wb,
    reference_metrics,
    stoi,
)
from .record import Measurement, level_db, measure_signal
from .stationary import StationaryResult, StationarySpectrum, stationary_spectrum
from .tonal import (
    WARNING_CODES,
    Spectra,
    TonalScore,
    analyse,
    detect_lines,
    detect_tones,
    estimate_hop,
    excess_spread_db,
    excess_tonal_db,
    frame_step,
    score_spectra,
    tonal_score,
)
from .tones import PredictedTone, default_n_fft, parse_factors, predicted_tones
from .measure import measure_file, measure_files  # soundfile, tqdm: when used
from .writer import RecordWriter
from .plot import plot_tonal  # matplotlib: when a figure is drawn


__all__ = [
    "PredictedTone", "predicted_tones", "default_n_fft", "parse_factors",
    "StationarySpectrum", "StationaryResult", "stationary_spectrum",
    "TonalScore", "tonal_score", "score_spectra", "analyse", "Spectra", "estimate_hop",
    "excess_tonal_db", "excess_spread_db", "frame_step", "WARNING_CODES", "detect_tones", "detect_lines",
    "mrstft_distance", "mel_l1_distance", "log_spectral_distance", "pesq_wb", "stoi",
    "periodicity", "reference_metrics", "MetricUnavailable",
    "Measurement", "level_db", "measure_signal", "measure_file", "measure_files", "RecordWriter", "plot_tonal",
]
