"""Fixtures for every test: a fixed seed for both libraries, and hypothesis's profile.

The shared helpers (``check_against_torch``, ``check_gradcheck``, ``pair``, ...)
live in ``helpers.py``; import them from there.
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import settings

import chainrule as cr

settings.register_profile("chainrule", max_examples=40, deadline=None, derandomize=True)
settings.load_profile("chainrule")


@pytest.fixture(autouse=True)
def _seeded() -> None:
    cr.manual_seed(0)
    torch.manual_seed(0)
