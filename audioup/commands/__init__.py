"""Every ``audioup`` command, one module each (the top layer, under :mod:`audioup.cli`, which
lists them with their one-line help in :data:`audioup.cli.COMMANDS`). Each module has
``register(subparsers, help_line)``, which adds its parser with that help line, and ``run(args)``.

- :mod:`.layers`: ``audioup layers``, the upsampler kinds side by side (layers + analysis).
- :mod:`.measure`: ``audioup measure``, tonal-artifact and vocoder metrics of audio files.
- :mod:`.analyze`: ``audioup analyze``, layer / generator / discriminator diagnostics
  (analysis, models, and inference for ``--checkpoint``).
- :mod:`.train`: ``audioup train``, a YAML recipe.
- :mod:`.mel`: ``audioup mel``, log-mel ``.npy`` files for ``audioup vocode``.
- :mod:`.vocode`: ``audioup vocode``, audio from WAVs or mels (no training code loaded).
- :mod:`.convert`: ``audioup convert``, a released vocoder made line-free.
- :mod:`.compare`: ``audioup compare``, one vocoder per upsampler kind (or ``--from`` a released one).
- :mod:`.demo`: ``audioup demo``, the offline demo.
"""
import re
from pathlib import Path

from ..errors import CommandError

_ROLE = re.compile(r":(?:func|mod|class|meth|data|attr):`~?([^`]+)`")


def plain_text(doc: str) -> str:
    """A docstring as ``--help`` text: reStructuredText roles and literals become plain text.

    >>> plain_text("``audioup analyze`` through :func:`audioup.inference.load_generator`")
    'audioup analyze through audioup.inference.load_generator'
    """
    return _ROLE.sub(r"\1", doc).replace("``", "")


def check_output_path(path, option: str, folder: bool) -> None:
    """Refuse an output path of the wrong kind (a folder for a file, a file for a folder) up front."""
    if path is None:
        return
    p = Path(path)
    if folder and p.exists() and not p.is_dir():
        raise CommandError(f"{option} {p}: is a file, not a folder")
    if not folder and p.is_dir():
        raise CommandError(f"{option} {p}: is a folder, not a file")
    for parent in p.parents:
        if parent.exists():
            if not parent.is_dir():
                raise CommandError(f"{option} {p}: {parent} is a file, not a folder")
            break
