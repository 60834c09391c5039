"""Progress bars: drawn on a terminal, silent in a log file or a pipe, off when disabled."""
from __future__ import annotations

import io

from audioup.progress import progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def drawn(enabled: bool, stream) -> str:
    for _ in progress_bar(range(50), enabled=enabled, file=stream, desc="work", mininterval=0):
        pass
    return stream.getvalue()


def test_bar_is_drawn_on_a_terminal_only():
    assert "work" in drawn(True, Terminal()) and "50/50" in drawn(True, Terminal())
    assert drawn(True, io.StringIO()) == ""       # a log file / pipe: no bar updates
    assert drawn(False, Terminal()) == ""          # progress=False wins everywhere


def test_disabled_bar_still_iterates_and_takes_updates():
    bar = progress_bar(total=3, enabled=False)
    bar.update(2)
    bar.set_postfix({"g": "1.0"})
    bar.close()
    assert list(progress_bar(iter("abc"), enabled=False)) == ["a", "b", "c"]
