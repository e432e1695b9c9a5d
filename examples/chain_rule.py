"""The chain rule, by hand and by backward(): one neuron, every derivative written out.

A single neuron computes y = tanh(w . x + b) and we measure its squared error
against a target. Calculus gives dL/dw by multiplying the local derivatives
along the path from L back to w; backward() does exactly that, and
gradcheck() confirms both against finite differences.
"""

import numpy as np

import chainrule as cr

x = cr.tensor([0.5, -1.0, 2.0], dtype=cr.float64)
w = cr.tensor([0.1, 0.4, -0.3], dtype=cr.float64, requires_grad=True)
b = cr.tensor(0.2, dtype=cr.float64, requires_grad=True)
target = 0.5

# forward, one named step at a time
z = (w * x).sum() + b  # pre-activation
y = z.tanh()  # activation
loss = (y - target) ** 2  # squared error
loss.backward()

# the same derivatives by hand: dL/dw = dL/dy * dy/dz * dz/dw
dL_dy = 2 * (y.item() - target)
dy_dz = 1 - y.item() ** 2
dL_dw = dL_dy * dy_dz * x.numpy()
dL_db = dL_dy * dy_dz

print(f"loss            {loss.item():.6f}")
print(f"dL/dw by hand   {np.array2string(dL_dw, precision=6)}")
print(f"dL/dw backward  {np.array2string(w.grad.numpy(), precision=6)}")
print(f"dL/db by hand   {dL_db:.6f}   backward {b.grad.item():.6f}")
assert np.allclose(dL_dw, w.grad.numpy()) and np.isclose(dL_db, b.grad.item())

# and both against finite differences
ok = cr.autograd.gradcheck(lambda w, b: (((w * x).sum() + b).tanh() - target) ** 2, [w, b])
print(f"gradcheck against finite differences: {'passed' if ok else 'failed'}")
