"""The seeded generator behind every random draw in chainrule.

One process-wide :class:`Generator` feeds ``rand``/``randn``/``randint``, weight
initialisation, dropout and shuffling, so ``manual_seed(s)`` makes a whole run
reproducible. Its state is a plain dict (JSON-safe) for checkpoints.
"""

from __future__ import annotations

from typing import Any

import numpy as np


class Generator:
    """A PCG64 stream, seedable and with a saveable state, like ``torch.Generator``."""

    def __init__(self, seed: int | None = None) -> None:
        self.manual_seed(np.random.SeedSequence().entropy if seed is None else seed)

    def manual_seed(self, seed: int) -> Generator:
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise TypeError(f"manual_seed: seed must be an int, got {type(seed).__name__}")
        self._seed = int(seed)
        self.rng = np.random.Generator(np.random.PCG64(self._seed & ((1 << 128) - 1)))
        return self

    def initial_seed(self) -> int:
        return self._seed

    def get_state(self) -> dict[str, Any]:
        """The bit generator's state: a dict of ints and strings that ``set_state`` restores."""
        return self.rng.bit_generator.state

    def set_state(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state


default_generator = Generator(0)


def manual_seed(seed: int) -> Generator:
    """Seed the global generator: every later random draw of the library becomes reproducible."""
    return default_generator.manual_seed(seed)


def get_rng_state() -> dict[str, Any]:
    return default_generator.get_state()


def set_rng_state(state: dict[str, Any]) -> None:
    default_generator.set_state(state)


def rng(generator: Generator | None = None) -> np.random.Generator:
    """The NumPy generator to draw from: the given one, else the global one."""
    return (generator or default_generator).rng
