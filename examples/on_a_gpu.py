"""Training on a GPU when there is one: the same code, a device named once.

``device`` is "cuda" where CuPy finds an NVIDIA GPU (``pip install
'chainrule[cuda12]'``) and "cpu" elsewhere, as PyTorch users write it. The
Trainer moves the model there and each batch as it comes (a loader made with
``device=`` would move the batches itself; ``x.to(device)`` in your own loop
works too). Weights are saved from host copies and load on the CPU unless
``map_location`` says otherwise, so a model trained on the GPU serves on a
laptop. Run ``python examples/on_a_gpu.py --device strict`` in the tests to
see the stand-in device catch any hidden trip to the host.
"""

import sys
import tempfile
from pathlib import Path

import chainrule as cr
from chainrule import nn, optim
from chainrule.data import DataLoader
from chainrule.data.datasets import load_digits
from chainrule.train import Trainer

device = "cuda" if cr.cuda.is_available() else "cpu"
if "--device" in sys.argv:  # the tests run it on their stand-in device
    device = sys.argv[sys.argv.index("--device") + 1]
    if device == "strict":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        import strict_array

        strict_array.register()
print(f"training on {device}" + (f" (no GPU here: {cr.cuda.why_unavailable()})" if device == "cpu" else ""))

cr.manual_seed(0)
train, test = load_digits()
model = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
trainer = Trainer(
    model, nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=3e-3), device=device, progress=False
)
history = trainer.fit(DataLoader(train, batch_size=64, shuffle=True), epochs=15)
print(f"parameters on {next(iter(model.parameters())).device}; final loss {history.history['loss'][-1]:.4f}")
print(f"test accuracy: {trainer.evaluate(DataLoader(test, batch_size=256))['accuracy']:.3f}")

with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "digits_mlp.safetensors"
    cr.save(model.state_dict(), path)  # host copies: the file records no device
    on_cpu = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    on_cpu.load_state_dict(cr.load(path))  # tensors load on the CPU (map_location="cpu")
    x, y = next(iter(DataLoader(test, batch_size=len(test))))
    with cr.no_grad():
        accuracy = (on_cpu(x).argmax(dim=1) == y).float().mean().item()
print(f"the saved weights on the CPU: test accuracy {accuracy:.3f}")
