"""``audioup measure``: tonal-artifact and vocoder metrics for files and folders."""
from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from ..audio.fs import display_path, probe_folder, stream_destination
from ..audio.io import find_audio_files
from ..errors import CommandError
from ..metrics.measure import PLOT_FAILED, measure_files, plot_names
from ..metrics.writer import RecordWriter
from ..metrics.tones import parse_factors

DESCRIPTION = """\
Measure tonal (checkerboard) artifacts of vocoder output.

For each file: the tonal score (v2): how far the lines the upsampling schedule
predicts (every multiple of sr / hop) stand out of the stationary spectrum of
the active frames, in dB, minus what shifted grids read (so audio without lines
scores 0 +- the null spread shown next to it). Also: the strongest predicted
line (prominence, level re the signal, layer), the score in pauses, the blind
hop estimate, per-band figures (JSON) and warnings. With --reference, also
excess tonality over the ground truth, MR-STFT, log-mel L1, log-spectral
distance, and PESQ-WB, STOI and periodicity when pesq / pystoi / torchcrepe
are installed.

Pitched material (music, a held note, hum) can put lines where an upsampler
would: such files get a pitched_content warning; measure them against a
reference of the same content (--reference) and read excess dB. Measure at
least 1 s of signal (too_short below 5 active frames).

Bad files (empty, truncated, not audio, NaN, too short) get an error in their
record and the run goes on; the exit code is 1 if any file failed. Several
channels are mixed to mono. Without --factors or --hop the hop is 256.
"""


def _hop(text: str):
    if text == "auto":
        return "auto"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or 'auto', got {text!r}") from None
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be >= 2, got {value}")
    return value


def register(subparsers, help_line: str) -> None:
    p = subparsers.add_parser("measure", help=help_line,
                              description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders (searched recursively)")
    sched = p.add_mutually_exclusive_group()
    sched.add_argument("--factors", help="per-layer upsampling factors, e.g. 8,8,2,2 (HiFi-GAN V1)")
    sched.add_argument("--hop", type=_hop, help="total upsampling factor when the layers are unknown "
                       "(default 256); 'auto': the blind estimate of each file")
    p.add_argument("--reference", metavar="DIR", help="folder of ground-truth files with the same names")
    p.add_argument("--json", metavar="FILE", help="write one record per file (JSON list)")
    p.add_argument("--csv", metavar="FILE", help="write one row per file")
    p.add_argument("--plot", metavar="DIR", help="write a PNG per file (spectrum, lines, spectrogram)")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="files measured in N processes (default 1)")
    p.add_argument("--n-fft", type=int, help="analysis FFT size, a multiple of the hop (default: hop x 16 or more)")
    p.add_argument("--no-optional", action="store_true", help="skip PESQ, STOI and periodicity")
    p.add_argument("--crepe-model", default="tiny", choices=["tiny", "full"],
                   help="torchcrepe model for periodicity (default tiny; CARGAN used full)")
    p.add_argument("--force", action="store_true", help="overwrite existing --json/--csv/--plot outputs")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    try:
        factors = parse_factors(args.factors) if args.factors is not None else None
    except ValueError as exc:
        raise CommandError(f"--factors: {exc}") from None
    hop = math.prod(factors) if factors else (args.hop if isinstance(args.hop, int) else None)
    if hop is not None and hop < 2:
        raise CommandError(f"a hop of {hop} predicts no line below Nyquist; the hop must be >= 2")
    if args.n_fft is not None and args.n_fft < 16:
        raise CommandError(f"--n-fft must be >= 16, got {args.n_fft}")
    if args.n_fft is not None and args.n_fft % (hop or 256):
        raise CommandError(f"--n-fft {args.n_fft} must be a multiple of the hop ({hop or 256}) "
                           "so that predicted lines fall on bins")
    if args.jobs < 1:
        raise CommandError(f"--jobs must be >= 1, got {args.jobs}")
    args.jobs = min(args.jobs, os.cpu_count() or 1)
    if args.reference and not Path(args.reference).is_dir():
        raise CommandError(f"--reference {args.reference}: not a folder")
    _check_outputs(args)
    _check_plot_folder(args.plot)
    if args.plot and not args.force:
        targets = [Path(args.plot) / name for name in plot_names(_inputs(args.paths))]
        clash = [t for t in targets if t.exists()]
        if clash:
            raise CommandError(f"{clash[0]} exists; use --force to overwrite")
    kwargs = dict(n_fft=args.n_fft, crepe_model=args.crepe_model)
    if args.no_optional:
        kwargs["optional"] = ()
    try:
        with RecordWriter(args.json, args.csv) as writer:
            records = measure_files(args.paths, factors=factors, hop=args.hop,
                                    reference_dir=args.reference, jobs=args.jobs, plot_dir=args.plot,
                                    progress=not args.quiet, on_record=writer.add, **kwargs)
            writer.records = list(records)  # close() writes both files in input order
    except OSError as exc:  # the outputs could not be created: nothing was measured
        raise CommandError(f"cannot write {exc.filename or 'the output'}: {exc.strerror or exc}") from None
    for message in writer.failures:  # every file was measured; the table below has them all
        print(f"error: {display_path(message)}", file=sys.stderr)
    if not records:
        print(f"audioup measure: no audio files found in {' '.join(args.paths)}", file=sys.stderr)
        return 1
    print(format_table(records, with_reference=bool(args.reference)))
    failed = [r for r in records if r["error"]]
    for r in failed:
        print(f"error: {display_path(r['error'])}", file=sys.stderr)
    plot_failed = [(r["path"], w["message"]) for r in records if not r["error"]
                   for w in r["warnings"] if w["code"] == PLOT_FAILED]
    for path, message in plot_failed:  # the numbers are in the table; the requested PNG is missing
        print(f"error: {display_path(path)}: {display_path(message)}", file=sys.stderr)
    warned = sum(1 for r in records if r["warnings"] and not r["error"])
    print(f"{len(records)} file(s): {len(records) - len(failed)} measured, {len(failed)} failed"
          + (f", {warned} with warnings" if warned else ""))
    return 1 if failed or not records or writer.failures or plot_failed else 0


def _inputs(paths) -> list:
    """``[(file, root folder or None)]`` of the inputs that exist (missing ones become error records)."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            out += [(f, p) for f in find_audio_files([p])]
        elif p.is_file():
            out.append((p, None))
    return out


def _check_outputs(args) -> None:
    """Refuse --json/--csv that are folders, inputs, each other, or in a missing folder; no overwrite without --force."""
    outs = [(flag, Path(v)) for flag, v in (("--json", args.json), ("--csv", args.csv)) if v]
    if len(outs) == 2 and os.path.realpath(outs[0][1]) == os.path.realpath(outs[1][1]):
        raise CommandError(f"--json and --csv name the same file {outs[0][1]}")
    inputs = [f for f, _ in _inputs(args.paths)]
    for flag, out in outs:
        try:
            stream = stream_destination(out)  # a link, a block device, a socket... is refused
        except OSError as exc:
            raise CommandError(f"{flag} {display_path(out)}: {exc.strerror}") from None
        if stream:  # written into (/dev/stdout, a FIFO): nothing is replaced, no --force needed
            continue
        if out.is_dir():
            raise CommandError(f"{flag} {out}: is a folder, expected a file name")
        if out.parent != Path("") and not out.parent.is_dir():
            if out.parent.exists():
                raise CommandError(f"{flag} {out}: {out.parent} is not a folder")
        if out.exists():
            if any(os.path.samefile(out, f) for f in inputs if f.exists()):
                raise CommandError(f"{flag} {out} is one of the inputs; refusing to overwrite it")
            if not args.force:
                raise CommandError(f"{out} exists; use --force to overwrite")
        try:  # a read-only folder is refused now, not after the whole batch is measured
            probe_folder(out.parent)
        except OSError as exc:
            where = exc.filename if exc.filename is not None else out.parent
            raise CommandError(f"{flag} {display_path(out)}: {display_path(where)}: "
                               f"{exc.strerror or exc}") from None


def _check_plot_folder(plot) -> None:
    """--plot: a folder that can be written (made now), or a clear error before anything is measured."""
    if not plot:
        return
    try:
        probe_folder(plot)
    except FileExistsError:
        raise CommandError(f"--plot {display_path(plot)}: is a file, not a folder") from None
    except OSError as exc:
        where = exc.filename if exc.filename is not None else plot
        raise CommandError(f"--plot {display_path(plot)}: {display_path(where)}: {exc.strerror or exc}") from None


def format_table(records, with_reference: bool = False) -> str:
    """A plain-text table, one line per record."""
    def f(v, fmt="{:.2f}"):
        return "-" if v is None else fmt.format(v)

    cols = ["file", "score dB", "+-null", "max dB", "strongest line", "pause dB", "hop~"]
    if with_reference:
        cols += ["excess dB (+-null)", "MR-STFT", "mel L1", "LSD dB", "PESQ", "STOI", "period."]
    cols.append("notes")
    rows = []
    for r in records:
        name = display_path(r["path"])  # one line, printable on any stdout
        name = name if len(name) <= 40 else "..." + name[-37:]
        if r["error"]:
            msg = r["error"].split(": ", 1)[-1] if r["error"].startswith(r["path"]) else r["error"]
            msg = display_path(msg)
            rows.append([name] + ["-"] * (len(cols) - 2) + ["ERROR: " + msg])
            continue
        top = r["tones"][0] if r["tones"] else None
        line = "-" if top is None else (f"{top['freq_hz']:.0f} Hz L{top['layer']} "
                                        f"{top['prominence_db']:+.0f} dB ({top['level_db']:.0f} dB re sig)")
        pause = (r.get("pause") or {}).get("tonal_score_db")
        row = [name, f(r["tonal_score_db"]), f(r["null_spread_db"]), f(r["tonal_max_db"], "{:.1f}"), line,
               f(pause, "{:.1f}"), f(r.get("estimated_hop"), "{:d}")]
        if with_reference:
            excess = f(r["excess_tonal_db"]) + (f"+-{r['excess_spread_db']:.2f}" if r.get("excess_spread_db")
                                                 is not None and r["excess_tonal_db"] is not None else "")
            row += [excess, f(r["mrstft"]), f(r["mel_l1"]), f(r["lsd_db"]),
                    f(r["pesq_wb"]), f(r["stoi"], "{:.3f}"), f(r["periodicity_rmse"], "{:.3f}")]
        notes = [f"{w['code']}: {w['message']}" if w["code"] != "note" else w["message"]
                 for w in r["warnings"]]
        notes += [f"{k}: {v}" for k, v in (r.get("unavailable") or {}).items()]
        if r.get("detected"):
            notes.append(f"{len(r['detected'])} line(s) found blind, strongest "
                         f"{r['detected'][0]['freq_hz']:.0f} Hz")
        row.append("; ".join(notes) if notes else "")
        rows.append(row)
    widths = [max(len(c), *(len(x[i]) for x in rows)) if rows else len(c) for i, c in enumerate(cols)]
    widths[-1] = len(cols[-1])  # notes run free
    lines = ["  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for x in rows:
        lines.append("  ".join(v.ljust(w) for v, w in zip(x, widths)).rstrip())
    if any(w["code"] == "pitched_content" for r in records for w in r.get("warnings") or []):
        lines.append("pitched_content: a held note cannot always be told from an artifact without "
                     "a reference; measure such files with --reference (same content)")
    return "\n".join(lines)
