#!/usr/bin/env python3
"""Evaluates an engine checkpoint (best.safetensors of a run) with the PyTorch reference model.

Loads the weights into the port's WideResNet as tools/reference/wrn_reference.py builds it
(load_state_dict, strict), runs the CIFAR-10 test set (`test_batch.bin` of the binary version)
in eval mode with the engine's normalization (the port's mean and std, computed in float32 as
the engine's lookup table is), and prints the accuracy and the number of correct images, so it
can be compared with `mmengine eval` on the same checkpoint. With --compare N_CORRECT it exits
1 when the two differ by more than --max-diff images. Needs torch and numpy.
"""
import argparse
import sys

try:
    import numpy as np
    import torch
except ImportError as e:
    sys.exit(f"eval_pytorch.py needs torch and numpy ({e}): pip install torch numpy")

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from wrn_reference import WideResNet, read_safetensors  # noqa: E402

MEAN = np.array([0.4914, 0.4822, 0.4465], dtype=np.float32)
STD = np.array([0.2471, 0.2435, 0.2616], dtype=np.float32)


def read_cifar_test(path):
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size == 0 or raw.size % 3073:
        sys.exit(f"{path}: expected whole 3073-byte CIFAR-10 records, got {raw.size} bytes")
    rec = raw.reshape(-1, 3073)
    labels = rec[:, 0].astype(np.int64)
    images = rec[:, 1:].reshape(-1, 3, 32, 32)
    x = (images.astype(np.float32) / np.float32(255) - MEAN[None, :, None, None]) / STD[None, :, None, None]
    return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(labels)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint")
    p.add_argument("test_batch", help="CIFAR-10 test_batch.bin")
    p.add_argument("--depth", type=int, default=28)
    p.add_argument("--widen", type=int, default=2)
    p.add_argument("--bn-eps", type=float, default=1e-5)
    p.add_argument("--conv-bias", choices=["on", "off"], default="off")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--compare", type=int, help="correct images the engine counted")
    p.add_argument("--max-diff", type=int, default=2)
    a = p.parse_args()
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    weights = read_safetensors(a.checkpoint)
    net = WideResNet(a.depth, a.widen, 10, 3, a.bn_eps, a.conv_bias == "on")
    net.load_state_dict(weights, strict=True)
    net = net.to(a.device).eval()
    x, y = read_cifar_test(a.test_batch)
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), a.batch):
            logits = net(x[i:i + a.batch].to(a.device))
            correct += int((logits.argmax(1).cpu() == y[i:i + a.batch]).sum())
    print(f"PyTorch reference: test {100.0 * correct / len(y):.2f}% ({correct} of {len(y)} correct) on {a.device}")
    if a.compare is not None:
        diff = abs(correct - a.compare)
        ok = diff <= a.max_diff
        print(f"engine {a.compare} vs PyTorch {correct} correct: differ by {diff} (allowed {a.max_diff}): "
              f"{'PASS' if ok else 'FAIL'}")
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
