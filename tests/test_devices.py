"""Devices as PyTorch has them: moving tensors and modules, errors naming devices, and the stand-in's wall."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import helpers  # noqa: F401  (registers the strict stand-in device)
import strict_array
from chainrule import devices
from chainrule.autograd import Function


def test_device_objects_parse_and_compare_as_in_pytorch():
    assert cr.device("cuda:1") == cr.device("cuda", 1)
    assert cr.device("cpu") == "cpu"
    assert str(cr.device("cuda", 0)) == "cuda:0"
    with pytest.raises(RuntimeError, match="device type"):
        cr.device("tpu")
    assert cr.randn(2).device == "cpu"


@pytest.mark.skipif(cr.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_a_gpu_says_why():
    assert cr.cuda.device_count() == 0
    assert cr.cuda.why_unavailable()
    with pytest.raises(RuntimeError, match="'cuda' is not available: CuPy"):
        cr.randn(2).to("cuda")
    with pytest.raises(RuntimeError, match="zeros: device 'cuda:0' is not available"):
        cr.zeros(3, device="cuda:0")
    with pytest.raises(RuntimeError, match="not available"):
        cr.nn.Linear(2, 2).cuda()
    with pytest.raises(RuntimeError, match="MPS"):
        cr.randn(2).to("mps")


def test_to_and_back_is_differentiable_and_the_gradient_returns_to_the_cpu():
    x = cr.randn(3, 4, requires_grad=True)
    y = x.to("strict")
    assert y.device == "strict:0" and y.grad_fn is not None
    assert type(y._array) is strict_array.StrictArray
    (y * y).sum().backward()
    assert x.grad.device == "cpu"
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy())
    assert y.cpu().device == "cpu" and x.cpu() is x and y.to("strict") is y


def test_to_takes_a_dtype_and_a_device_together():
    x = cr.arange(6).reshape(2, 3)
    y = x.to("strict", cr.float64)
    assert y.dtype == cr.float64 and y.device.type == "strict"
    z = cr.zeros(1, dtype=cr.float16).to("strict")
    assert x.to(z).dtype == cr.float16 and x.to(z).device.type == "strict"


def test_an_op_on_two_devices_names_both():
    a = cr.randn(3).to("strict")
    with pytest.raises(RuntimeError, match=r"same device.*(strict:0 and cpu|cpu and strict:0)"):
        a + cr.randn(3)


def test_a_device_tensor_refuses_implicit_numpy_but_gives_values_explicitly():
    t = cr.tensor([1.5, 2.5]).to("strict")
    with pytest.raises(TypeError, match=r"use \.cpu\(\)"):
        t.numpy()
    with pytest.raises(TypeError, match=r"use \.cpu\(\)"):
        np.asarray(t)
    assert t.tolist() == [1.5, 2.5]
    assert t[0].item() == 1.5 and float(t.sum()) == 4.0
    assert "device='strict:0'" in repr(t)


def test_creation_functions_take_device_and_like_functions_keep_it():
    for t in [
        cr.zeros(2, 3, device="strict"),
        cr.ones(2, device="strict"),
        cr.full((2,), 7.0, device="strict"),
        cr.arange(5, device="strict"),
        cr.eye(3, device="strict"),
        cr.randn(4, device="strict"),
        cr.rand(4, device="strict"),
        cr.randint(0, 9, (3,), device="strict"),
        cr.tensor([1, 2], device="strict"),
    ]:
        assert t.device.type == "strict"
    base = cr.randn(3, device="strict")
    for t in [cr.zeros_like(base), cr.ones_like(base), cr.randn_like(base), cr.full_like(base, 2.0)]:
        assert t.device.type == "strict"
    assert base.new_zeros(2).device.type == "strict"
    assert cr.zeros_like(base, device="cpu").device == "cpu"


def test_random_draws_are_the_same_numbers_on_every_device():
    cr.manual_seed(3)
    a = cr.randn(5)
    cr.manual_seed(3)
    b = cr.randn(5, device="strict")
    np.testing.assert_array_equal(a.numpy(), b.cpu().numpy())


def test_copy_crosses_devices_and_load_state_dict_lands_on_the_parameters_device():
    dst = cr.zeros(3, device="strict")
    dst.copy_(cr.tensor([1.0, 2.0, 3.0]))
    assert dst.device.type == "strict" and dst.tolist() == [1.0, 2.0, 3.0]
    cpu_model = cr.nn.Linear(3, 2)
    dev_model = cr.nn.Linear(3, 2).to("strict")
    dev_model.load_state_dict(cpu_model.state_dict())
    assert dev_model.weight.device.type == "strict"
    np.testing.assert_array_equal(dev_model.weight.cpu().numpy(), cpu_model.weight.numpy())
    back = cr.nn.Linear(3, 2)
    back.load_state_dict(dev_model.state_dict())
    np.testing.assert_array_equal(back.weight.numpy(), cpu_model.weight.numpy())


def test_module_to_keeps_the_parameter_objects_and_moves_their_gradients():
    m = cr.nn.Linear(3, 2)
    w = m.weight
    m(cr.randn(4, 3)).sum().backward()
    m.to("strict")
    assert m.weight is w and w.device.type == "strict" and w.grad.device.type == "strict"
    m.cpu()
    assert w.device == "cpu" and w.grad.device == "cpu"


# ---------------------------------------------------------------- the stand-in's wall
class _LeakyExp(Function):
    """An op written against NumPy directly: exactly the bug the stand-in exists to catch."""

    def forward(ctx, a):
        return np.exp(a)

    def backward(ctx, g):
        return g


def test_the_stand_in_catches_an_op_that_calls_numpy_directly():
    x = cr.randn(3)
    np.testing.assert_allclose(_LeakyExp.apply(x).numpy(), np.exp(x.numpy()))  # fine on the CPU
    with pytest.raises(TypeError, match="does not support ufuncs"):
        _LeakyExp.apply(x.to("strict"))


def test_the_stand_in_refuses_every_implicit_trip_to_numpy():
    a = strict_array.strict.asarray(np.arange(4.0))
    with pytest.raises(TypeError, match="Implicit conversion"):
        np.asarray(a)
    with pytest.raises(TypeError, match=r"numpy\.concatenate"):
        np.concatenate([a, a])
    with pytest.raises(TypeError, match=r"numpy\.ndarray"):
        a + np.ones(4)
    with pytest.raises(TypeError, match=r"numpy\.ndarray"):
        a[np.array([0, 1])]
    with pytest.raises(TypeError, match="scatter_add"):
        strict_array.strict.add.at(a, strict_array.strict.asarray([0, 0]), 1.0)
    with pytest.raises(AttributeError, match="errstate"):
        strict_array.strict.errstate  # noqa: B018
    # what CuPy allows: explicit moves, scalars, its own module
    assert (a + 1.0).get().tolist() == [1.0, 2.0, 3.0, 4.0]
    assert float(strict_array.strict.exp(a).sum()) == pytest.approx(np.exp(np.arange(4.0)).sum())


def test_scatter_add_adds_repeated_indices_on_every_device():
    for dev in ["cpu", "strict"]:
        xp = devices.array_module(cr.zeros(1, device=dev)._array)
        target = xp.zeros(3)
        devices.scatter_add(target, xp.asarray([0, 0, 2]), xp.asarray([1.0, 2.0, 5.0]))
        assert devices.to_host(target).tolist() == [3.0, 0.0, 5.0]


def test_scatter_max_and_min_keep_the_extremes_of_repeated_indices_on_every_device():
    for dev in ["cpu", "strict"]:
        xp = devices.array_module(cr.zeros(1, device=dev)._array)
        index, values = xp.asarray([0, 0, 2, 1]), xp.asarray([4.0, -2.0, 5.0, np.nan])
        hi, lo = xp.zeros(3), xp.zeros(3)
        with np.errstate(invalid="ignore"):  # NumPy's NaN warning on the CPU
            devices.scatter_max(hi, index, values)
            devices.scatter_min(lo, index, values)
        np.testing.assert_array_equal(devices.to_host(hi), [4.0, np.nan, 5.0])  # NaN propagates
        np.testing.assert_array_equal(devices.to_host(lo), [-2.0, np.nan, 0.0])


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int8, np.uint8, np.bool_, np.float32, np.float16])
def test_cuda_scatter_add_takes_every_integer_dtype(dtype):
    # the CUDA backend's wrapper, on NumPy, against a fake of cupyx.scatter_add (no int64, no narrow ints)
    def raw(target, index, values):
        if target.dtype not in devices._ATOMIC_ADD_DTYPES:
            raise TypeError("scatter_add only supports int32, float16, float32, float64, uint32, uint64")
        np.add.at(target, index, np.asarray(values).astype(target.dtype))

    scatter = devices._exact_add_scatter(np, raw)
    rng = np.random.default_rng(0)
    big = np.iinfo(dtype).max if np.dtype(dtype).kind in "iu" else 3
    for values in (rng.integers(-3, 4, 9).astype(dtype), np.full(9, big, dtype), 1, True):
        target = rng.integers(0, 3, (3, 4)).astype(dtype)
        index = (rng.integers(0, 3, 9), rng.integers(0, 4, 9))
        want = target.copy()
        np.add.at(want, index, values)  # wraps around where it overflows
        got = target.copy()
        scatter(got, index, values)
        np.testing.assert_array_equal(got, want)
        view = target.copy()
        scatter(view.T, (index[1], index[0]), values)  # a strided view is written in place
        np.testing.assert_array_equal(view, want)


def _cupy_like(largest: bool):
    """cupyx.scatter_max/_min as CuPy has them: five dtypes only, and float atomics through
    fmaxf/fminf (NaN dropped, float64 rounded through float32)."""
    fn = np.fmax if largest else np.fmin

    def raw(target, index, values):
        if target.dtype not in devices._ATOMIC_EXTREME_DTYPES:
            raise TypeError("scatter_max only supports int32, uint32, uint64, float32, float64")
        values = np.broadcast_to(np.asarray(values, target.dtype), target[index].shape)
        if target.dtype.kind == "f":
            values = values.astype(np.float32).astype(target.dtype)
        fn.at(target, index, values)

    return raw


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize(
    "dtype", [np.float16, np.float32, np.float64, np.int64, np.int32, np.int8, np.uint8, np.uint64, np.bool_]
)
def test_cuda_scatter_extremes_are_exact_despite_cupys_atomics(dtype, largest):
    # the CUDA backend's wrapper, run on NumPy against a fake of CuPy's restricted scatter
    scatter = devices._exact_extreme_scatter(np, _cupy_like(largest), largest)
    rng = np.random.default_rng(0)
    if np.dtype(dtype).kind == "f":
        pool = np.array([np.nan, -np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0 + 2**-40, -3.5, 1e-30, 7.25])
        pool = pool.astype(dtype)
    elif dtype is np.bool_:
        pool = np.array([True, False])
    else:
        info = np.iinfo(dtype)
        extra = [-1, -7] if info.min else []
        pool = np.array([info.min, info.max, 0, 1, info.max - 1, info.min + 1, *extra], dtype)
    for _ in range(30):
        target = rng.choice(pool, (4, 3))
        index = (rng.integers(0, 4, 8), rng.integers(0, 3, 8))
        values = rng.choice(pool, 8)
        want = target.copy()
        (np.maximum if largest else np.minimum).at(want, index, values)
        got = target.copy()
        scatter(got, index, values)
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)  # NaN where NumPy has NaN, values exact
    with pytest.raises(TypeError, match="only supports"):  # the fake is as strict as CuPy
        _cupy_like(largest)(np.zeros(2, np.int64), np.array([0]), np.array([1]))


@pytest.mark.parametrize("dtype", [np.float16, np.float64, np.int64, np.int8, np.bool_])
def test_the_cuda_scatter_wrappers_compute_through_the_array_module_alone(dtype):
    # run on the strict stand-in (no implicit NumPy), with fakes of cupyx's restricted scatters
    xp = strict_array.strict

    def fake(ufunc, allowed):
        def raw(target, index, values):
            if target.dtype not in allowed:
                raise TypeError(f"cupyx refuses {target.dtype}")
            ufunc.at(target._a, strict_array.unwrap_index(index), strict_array.operand(values))

        return raw

    rng = np.random.default_rng(1)
    target, values = rng.integers(-3, 4, (3, 4)).astype(dtype), rng.integers(-3, 4, 6).astype(dtype)
    index = (rng.integers(0, 3, 6), rng.integers(0, 4, 6))
    on_device = tuple(xp.asarray(i) for i in index)
    extreme = devices._ATOMIC_EXTREME_DTYPES
    for ufunc, wrapper in [
        (np.add, devices._exact_add_scatter(xp, fake(np.add, devices._ATOMIC_ADD_DTYPES))),
        (np.maximum, devices._exact_extreme_scatter(xp, fake(np.fmax, extreme), True)),
        (np.minimum, devices._exact_extreme_scatter(xp, fake(np.fmin, extreme), False)),
    ]:
        want = target.copy()
        ufunc.at(want, index, values)
        got = xp.asarray(target)
        wrapper(got, on_device, xp.asarray(values))
        np.testing.assert_array_equal(got.get(), want)


OPTIMIZERS = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.01, "amsgrad": True}),
    ("AdamW", {"lr": 0.01}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5}),
    ("Adagrad", {"lr": 0.1}),
    ("Adadelta", {}),
    ("Adamax", {}),
    ("NAdam", {}),
    ("RAdam", {}),
    ("Rprop", {}),
    ("ASGD", {}),
]


@pytest.mark.parametrize("name,options", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_optimizers_step_on_the_device_as_on_the_cpu_and_their_state_follows(name, options):
    rng = np.random.default_rng(0)
    shapes = [(3, 4), (4,), (20000,)]  # small ones share flat buffers, the large one its own
    values = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(3)]
    results = {}
    for dev in ["cpu", "strict"]:
        params = [cr.nn.Parameter(cr.tensor(v, device=dev)) for v in values]
        opt = getattr(cr.optim, name)(params, **options)
        for step in grads:
            for p, g in zip(params, step, strict=True):
                p.grad = cr.tensor(g, device=dev)
            opt.step()
        for st in opt.state.values():
            for key, value in st.items():
                # per-element state lives with the parameter; 0-d counters stay on the CPU, as in PyTorch
                if isinstance(value, cr.Tensor) and value.ndim > 0:
                    assert value.device.type == dev, f"{name} state {key!r} on {value.device}"
        results[dev] = [p.cpu().numpy().copy() for p in params]
        if dev == "strict":
            moved = getattr(cr.optim, name)([cr.nn.Parameter(cr.tensor(v)) for v in values], **options)
            moved.load_state_dict(opt.state_dict())  # a GPU optimizer's state onto CPU parameters
            for st in moved.state.values():
                for value in st.values():
                    if isinstance(value, cr.Tensor) and value.ndim > 0:
                        assert value.device == "cpu"
    for a, b in zip(results["cpu"], results["strict"], strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-7)
