"""Every op test runs on each device of ``helpers.DEVICES`` (see tests/conftest.py)."""

from __future__ import annotations

import inspect

import pytest

import helpers


@pytest.fixture(autouse=True, params=helpers.DEVICES)
def op_device(request: pytest.FixtureRequest):
    """The device ``check_against_torch`` puts the inputs on, for this run of the test."""
    previous = helpers.set_device(request.param)
    yield request.param
    helpers.set_device(previous)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run a test on the other devices only when it compares with PyTorch through the helper."""
    keep, drop = [], []
    for item in items:
        params = getattr(item, "callspec", None)
        device = params.params.get("op_device", "cpu") if params else "cpu"
        if device == "cpu" or _uses_the_oracle(item):
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


_cache: dict[object, bool] = {}


def _uses_the_oracle(item: pytest.Item) -> bool:
    fn = getattr(item, "function", None)
    if fn is None:
        return False
    if fn not in _cache:
        try:
            _cache[fn] = "check_against_torch" in inspect.getsource(fn)
        except (OSError, TypeError):
            _cache[fn] = False
    return _cache[fn]


@pytest.fixture
def restore_runtime():
    """For tests that switch the compiled kernels or the thread count: both as they were afterwards."""
    import chainrule as cr
    from chainrule import runtime

    threads, compiled_on = cr.get_num_threads(), runtime.compiled_kernels()
    yield
    runtime.set_compiled_kernels(compiled_on)
    cr.set_num_threads(threads)
