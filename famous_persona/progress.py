"""Progress bars for long work: a tqdm bar with an ETA on a terminal and nothing at all where stderr is not one (a
log file, CI), so run logs hold results rather than bar redraws. Every stage that loops over many items uses `bar`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")


def on_terminal() -> bool:
    """Whether a person is watching: stderr is an interactive terminal."""
    return sys.stderr.isatty()


def bar(total: int, desc: str, unit: str = "it", initial: int = 0) -> tqdm:
    """A bar over `total` items, `initial` of them done already (cache hits), so the ETA counts only the rest."""
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not on_terminal(), dynamic_ncols=True)


def each(items: Sequence[T], desc: str, unit: str = "it") -> Iterator[T]:
    """The items, one by one, under a bar."""
    return iter(tqdm(items, desc=desc, unit=unit, disable=not on_terminal(), dynamic_ncols=True))


def quiet_off_terminal() -> bool:
    """Off a terminal, also silence the libraries' bars: datasets' map passes, transformers' weight loading and
    saving, and TRL's reference log-prob pass (it reads TQDM_DISABLE as it draws); returns whether bars are off."""
    if on_terminal():
        return False
    from datasets.utils.logging import disable_progress_bar as datasets_quiet
    from transformers.utils.logging import disable_progress_bar as transformers_quiet

    os.environ["TQDM_DISABLE"] = "1"
    datasets_quiet()
    transformers_quiet()
    return True
