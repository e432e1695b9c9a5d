"""Fixtures for every test: a fixed seed for both libraries, hypothesis's profile, and the devices.

The shared helpers (``check_against_torch``, ``check_gradcheck``, ``pair``, ...)
live in ``helpers.py``; import them from there.

Devices: the op tests (``tests/ops``) run once per device in ``helpers.DEVICES``:
the CPU, the strict CuPy stand-in (``strict_array.py``, which fails any op that
reaches NumPy directly or copies to the host), and CUDA when CuPy finds a GPU.
A test that does not go through ``check_against_torch`` runs on the CPU only.
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
