"""Command modules that drive several packages (the top layer, beside :mod:`audioup.cli`).

- :mod:`.layers`: ``audioup layers``, the upsampler kinds side by side (layers + analysis).
- :mod:`.analyze`: ``audioup analyze``, layer / generator / discriminator diagnostics
  (analysis, models, and inference for ``--checkpoint``).
- :mod:`.mel`: ``audioup mel``, log-mel ``.npy`` files for ``audioup vocode``.

Commands that use one package only live in it (``audioup.metrics.cli``, ``audioup.train.cli``,
``audioup.compare.cli``, ``audioup.inference``, ``audioup.demo``).
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
