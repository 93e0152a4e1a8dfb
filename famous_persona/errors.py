"""Errors about the data a user supplied, and the guard that turns them into a clear message instead of a traceback."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TypeVar

from famous_persona.redaction import scrub, scrub_logs

F = TypeVar("F", bound=Callable[..., object])


class DataError(ValueError):
    """Bad input that the user can fix: the message says where and what."""


def exit_on_data_error(main: F) -> F:
    """Print a DataError as one line on stderr and exit with status 2; any other exception is a bug and keeps its
    traceback. Every stage's `main` is wrapped in it, so this is the one place bad input is reported, and where its
    logs start being scrubbed of credentials."""

    @functools.wraps(main)
    def guarded(*args: object, **kwargs: object) -> object:
        scrub_logs()
        try:
            return main(*args, **kwargs)
        except DataError as error:
            print("error: " + " ".join(scrub(str(error)).split()), file=sys.stderr)
            raise SystemExit(2) from None

    return guarded  # type: ignore[return-value]
