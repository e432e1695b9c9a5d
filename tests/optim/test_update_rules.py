"""Each optimizer's readable single-tensor rule against its fused multi-tensor path.

Same start, same gradients, several steps: the plain function (``adam_update``,
...) applied parameter by parameter must give what the optimizer's flat-buffer
path gives, for every combination of options. Where the two forms order their
operations alike the results are identical; where they differ (lerp's second
branch) they agree to float32 rounding.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim

SHAPES = [(3, 4), (5,), (), (130, 130)]  # the last one above the flat-buffer limit: a chunk of its own
STEPS = 5


def _combinations(**options: list) -> list[dict]:
    keys = list(options)
    return [dict(zip(keys, values)) for values in itertools.product(*options.values())]


def _sgd_rule(params, grads_per_step, options):
    buffers = [None] * len(params)
    for grads in grads_per_step:
        for i, (p, g) in enumerate(zip(params, grads)):
            buffers[i] = optim.sgd_update(p, g, buffers[i], **options)


def _adam_rule(params, grads_per_step, options):
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    vmax = [np.zeros_like(p) for p in params]
    for step, grads in enumerate(grads_per_step, start=1):
        for i, (p, g) in enumerate(zip(params, grads)):
            optim.adam_update(p, g, m[i], v[i], step, max_exp_avg_sq=vmax[i], **options)


def _rmsprop_rule(params, grads_per_step, options):
    square_avg = [np.zeros_like(p) for p in params]
    buf = [np.zeros_like(p) for p in params]
    grad_avg = [np.zeros_like(p) for p in params]
    for grads in grads_per_step:
        for i, (p, g) in enumerate(zip(params, grads)):
            optim.rmsprop_update(p, g, square_avg[i], momentum_buffer=buf[i], grad_avg=grad_avg[i], **options)


def _adagrad_rule(params, grads_per_step, options):
    initial = options.pop("initial_accumulator_value")
    sums = [np.full_like(p, initial) for p in params]
    for step, grads in enumerate(grads_per_step, start=1):
        for i, (p, g) in enumerate(zip(params, grads)):
            optim.adagrad_update(p, g, sums[i], step, **options)


CASES = [
    *[
        ("SGD", o, _sgd_rule)
        for o in _combinations(
            lr=[0.1],
            momentum=[0, 0.9],
            dampening=[0, 0.3],
            weight_decay=[0, 0.1],
            nesterov=[False, True],
            maximize=[False, True],
        )
        if not (o["nesterov"] and (o["momentum"] == 0 or o["dampening"] != 0))
    ],
    *[
        ("Adam", o, _adam_rule)
        for o in _combinations(
            lr=[0.05],
            betas=[(0.9, 0.999), (0.3, 0.9)],  # 1 - beta1 >= 0.5 takes lerp's other branch
            eps=[1e-8],
            weight_decay=[0, 0.1],
            amsgrad=[False, True],
            maximize=[False, True],
            decoupled_weight_decay=[False, True],
        )
    ],
    *[
        ("RMSprop", o, _rmsprop_rule)
        for o in _combinations(
            lr=[0.01],
            alpha=[0.99, 0.4],
            eps=[1e-8],
            weight_decay=[0, 0.1],
            momentum=[0, 0.5],
            centered=[False, True],
            maximize=[False, True],
        )
    ],
    *[
        ("Adagrad", o, _adagrad_rule)
        for o in _combinations(
            lr=[0.1],
            lr_decay=[0, 0.05],
            weight_decay=[0, 0.1],
            initial_accumulator_value=[0, 0.5],
            eps=[1e-10, 1e-3],
            maximize=[False, True],
        )
    ],
]


def _id(case: tuple) -> str:
    name, options, _ = case
    return name + "-" + ",".join(f"{k}={v}" for k, v in options.items() if k != "lr")


@pytest.mark.parametrize("foreach", [None, True, False])
@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_the_readable_rule_and_the_fused_path_agree(case: tuple, foreach: bool | None) -> None:
    name, options, rule = case
    rng = np.random.default_rng(0)
    start = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    grads_per_step = [[rng.standard_normal(s).astype(np.float32) for s in SHAPES] for _ in range(STEPS)]

    params = [cr.tensor(a.copy(), requires_grad=True) for a in start]
    optimizer = getattr(optim, name)(params, **options, foreach=foreach)
    for grads in grads_per_step:
        for p, g in zip(params, grads):
            p.grad = cr.tensor(g)
        optimizer.step()

    expected = [a.copy() for a in start]
    rule(expected, grads_per_step, dict(options))

    for i, (p, e) in enumerate(zip(params, expected)):
        assert p._array.dtype == e.dtype, f"parameter {i}: dtype {p._array.dtype}, rule {e.dtype}"
        np.testing.assert_allclose(p._array, e, rtol=1e-6, atol=1e-6, err_msg=f"parameter {i}")


def test_the_rules_are_exact_where_they_order_operations_alike() -> None:
    rng = np.random.default_rng(1)
    start = rng.standard_normal((4, 3)).astype(np.float32)
    grads = [rng.standard_normal((4, 3)).astype(np.float32) for _ in range(STEPS)]
    p = cr.tensor(start.copy(), requires_grad=True)
    optimizer = optim.Adam([p], lr=0.01, weight_decay=0.1, amsgrad=True)
    for g in grads:
        p.grad = cr.tensor(g)
        optimizer.step()
    expected = start.copy()
    _adam_rule(
        [expected],
        [[g] for g in grads],
        {"lr": 0.01, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.1, "amsgrad": True},
    )
    np.testing.assert_array_equal(p._array, expected)
