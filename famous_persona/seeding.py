"""Random draws keyed by what they are for, so each draw is reproducible on its own and adding one never shifts
another."""

from __future__ import annotations

import random


def seeded(*purpose: object) -> random.Random:
    """A generator seeded by its purpose, e.g. `seeded(seed, "shots", name)`."""
    return random.Random("-".join(str(part) for part in purpose))
