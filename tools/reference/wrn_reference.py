#!/usr/bin/env python3
"""Checks the engine's WideResNet against PyTorch.

`mmengine reference-dump --out DIR` writes DIR/model.safetensors (the initial weights, with
the PyTorch MixMatch port's state-dict names), DIR/io.safetensors (an input batch, its
labels, and the engine's logits, loss, parameter gradients and updated running statistics
after one training-mode forward/backward). This script builds the same network in PyTorch
(written from the port's description: pre-activation blocks, activate_before_residual in the
first group, the bn1 quirk in groups 2 and 3), loads the weights with load_state_dict,
repeats the step and prints the worst relative errors. Exit status 1 when any exceeds the
tolerance. Needs torch and numpy (present on the GPU machines).
"""
import argparse
import json
import struct
import sys

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
except ImportError as e:
    sys.exit(f"wrn_reference.py needs torch and numpy ({e}): pip install torch numpy")

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    data = raw[8 + n:]
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        arr = np.frombuffer(data[b:end], dtype=DTYPES[e["dtype"]]).reshape(e["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


class Block(nn.Module):
    def __init__(self, cin, cout, stride, activate_before_residual, eps, bias):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin, momentum=0.001, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=bias)
        self.bn2 = nn.BatchNorm2d(cout, momentum=0.001, eps=eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=bias)
        self.same = cin == cout
        self.abr = activate_before_residual
        if not self.same:
            self.convShortcut = nn.Conv2d(cin, cout, 1, stride, 0, bias=bias)

    def forward(self, x):
        act = F.leaky_relu(self.bn1(x), 0.1)
        if not self.same and self.abr:
            x = act
        h = self.conv1(act if self.same else x)
        h = self.conv2(F.leaky_relu(self.bn2(h), 0.1))
        return (x if self.same else self.convShortcut(x)) + h


class Group(nn.Module):
    def __init__(self, n, cin, cout, stride, abr, eps, bias):
        super().__init__()
        self.layer = nn.Sequential(*[Block(cin if i == 0 else cout, cout, stride if i == 0 else 1, abr, eps, bias)
                                     for i in range(n)])

    def forward(self, x):
        return self.layer(x)


class WideResNet(nn.Module):
    def __init__(self, depth, k, classes, cin, eps, bias):
        super().__init__()
        n = (depth - 4) // 6
        ch = [16, 16 * k, 32 * k, 64 * k]
        self.conv1 = nn.Conv2d(cin, 16, 3, 1, 1, bias=bias)
        self.block1 = Group(n, ch[0], ch[1], 1, True, eps, bias)
        self.block2 = Group(n, ch[1], ch[2], 2, False, eps, bias)
        self.block3 = Group(n, ch[2], ch[3], 2, False, eps, bias)
        self.bn1 = nn.BatchNorm2d(ch[3], momentum=0.001, eps=eps)
        self.fc = nn.Linear(ch[3], classes)

    def forward(self, x):
        h = self.block3(self.block2(self.block1(self.conv1(x))))
        h = F.leaky_relu(self.bn1(h), 0.1)
        return self.fc(h.mean(dim=(2, 3)))


def rel_err(a, b):
    a, b = a.double(), b.double()
    return ((a - b).norm() / max(b.norm().item(), 1e-30)).item()


def run_torch(weights, io, dtype, device):
    """One training-mode step in PyTorch at `dtype`; returns logits, loss, grads, buffers."""
    meta = {k: int(v.item()) for k, v in io.items() if k.startswith("cfg.") and k != "cfg.eps"}
    net = WideResNet(meta["cfg.depth"], meta["cfg.widen"], meta["cfg.classes"], io["input"].shape[1],
                     io["cfg.eps"].item(), bool(meta["cfg.conv_bias"]))
    net = net.to(dtype)  # before loading, so float64 weights are not rounded to float32
    net.load_state_dict({k: (v.to(dtype) if v.is_floating_point() else v) for k, v in weights.items()}, strict=True)
    net = net.to(device).train()
    logits = net(io["input"].to(device, dtype))
    loss = F.cross_entropy(logits, io["labels"].to(device).long())
    loss.backward()
    grads = {n: (p.grad if p.grad is not None else torch.zeros_like(p)).cpu() for n, p in net.named_parameters()}
    bufs = {n: b.cpu() for n, b in net.named_buffers() if "running" in n}
    return logits.detach().cpu(), loss.detach().cpu(), grads, bufs


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--tol", type=float, default=1e-9,
                   help="pass when the engine's error against PyTorch float64 is below this, or below 3x the error "
                        "of PyTorch itself at the engine's precision (float32: at least 1e-6)")
    a = p.parse_args()
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    weights = read_safetensors(f"{a.dir}/model.safetensors")
    io = read_safetensors(f"{a.dir}/io.safetensors")
    truth = run_torch(weights, io, torch.float64, a.device)
    same = run_torch(weights, io, io["input"].dtype, a.device)
    # In float32 the engine's and PyTorch's rounding errors are independent and of similar size,
    # so "within 3x PyTorch's own error" alone fails by chance about one run in five when
    # PyTorch happens to be lucky on a quantity: 1e-6 relative is float32-accurate either way.
    floor = a.tol if io["input"].dtype == torch.float64 else max(a.tol, 1e-6)

    def errors(name, engine, t64, tsame):
        return name, rel_err(engine, t64), rel_err(tsame, t64)

    rows = [errors("logits", io["logits"], truth[0], same[0]), errors("loss", io["loss"], truth[1], same[1])]
    grad_rows = [errors("grad " + n, io["grad." + n], truth[2][n], same[2][n]) for n in truth[2]
                 if truth[2][n].abs().sum() > 0]
    rows.append(max(grad_rows, key=lambda r: r[1] / max(floor, 3 * r[2])))
    rows.append(max((errors("running stats " + n, io["after." + n], truth[3][n], same[3][n]) for n in truth[3]),
                    key=lambda r: r[1]))
    print(f"{'quantity (worst)':48s} {'engine vs torch-f64':>20s} {'torch-same-dtype vs f64':>24s}")
    ok = True
    for name, e, ref in rows:
        good = e <= max(floor, 3 * ref)
        ok = ok and good
        print(f"{name:48s} {e:20.3e} {ref:24.3e} {'ok' if good else 'TOO FAR'}")
    print("PyTorch parity:", "PASS" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
