"""Progress bars: shown on a terminal, silent in logs (a leaf module).

Every bar in audioup goes through :func:`progress_bar`, so that a run whose
output goes to a file or a pipe prints only its summary lines, and a caller's
``progress=False`` (``train.progress=false``, ``--quiet``) turns every bar off.
"""


def progress_bar(iterable=None, *, enabled: bool = True, **kwargs):
    """A ``tqdm`` bar that is drawn only when ``enabled`` and stderr is a terminal.

    Args:
        iterable: what to iterate over, or ``None`` for a bar driven by ``update``.
        enabled: ``False`` turns the bar off everywhere.
        kwargs: passed to ``tqdm`` (``total``, ``desc``, ``unit``, ``leave`` ...).

    >>> sum(progress_bar(range(4), enabled=False))
    6
    """
    from tqdm import tqdm  # imported here: the measure path and `audioup --help` stay light

    # disable=None is tqdm's "off when the output is not a terminal"
    return tqdm(iterable, disable=None if enabled else True, **kwargs)
