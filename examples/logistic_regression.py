"""Logistic regression on handwritten digits with raw tensors and hand-written gradient descent.

The model is one linear layer followed by softmax: ten neurons, one per digit.
``loss.backward()`` computes every gradient by the chain rule; the update is
written out by hand. Run it with ``make demo``.
"""

from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import chainrule as cr

cr.manual_seed(0)
X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)
# NumPy's float64 data as float32 tensors, the weights' dtype (a matmul mixing the two is an error)
X_train, X_test = cr.tensor(X_train, dtype=cr.float32), cr.tensor(X_test, dtype=cr.float32)
y_train, y_test = cr.tensor(y_train), cr.tensor(y_test)

W = (cr.randn(64, 10) * 0.01).requires_grad_()  # one column of weights per digit
b = cr.zeros(10, requires_grad=True)
lr = 0.5

for epoch in range(301):
    logits = X_train @ W + b
    # cross-entropy: minus the log-probability the model gives the right digit
    log_probs = logits.log_softmax(dim=1)
    loss = -log_probs.gather(1, y_train.unsqueeze(1)).mean()
    W.grad = b.grad = None
    loss.backward()
    with cr.no_grad():  # the update itself must not be recorded
        W -= lr * W.grad
        b -= lr * b.grad
    if epoch % 50 == 0:
        print(f"epoch {epoch:3d}  loss {loss.item():.4f}")

with cr.no_grad():
    accuracy = ((X_test @ W + b).argmax(dim=1) == y_test).float().mean().item()
print(f"test accuracy: {accuracy:.3f} on {len(y_test)} held-out digits")
