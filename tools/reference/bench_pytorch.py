#!/usr/bin/env python3
"""The MixMatch step of `mmengine bench` in PyTorch, for a like-with-like comparison on one GPU.

Same network (WRN-28-2 as tools/reference/wrn_reference.py builds it), same batch (B labeled,
2B unlabeled, 3x32x32), same step: two guess passes under no_grad, sharpening, MixUp of all
3B rows, interleaved forward of three batches, the loss, Adam, EMA teacher with the 0.02*lr
decay. Variants are labelled with their precision: `fp32` (TF32 off everywhere: what the engine
computes), `tf32` (PyTorch's default for cuDNN convolutions), `channels_last`, and
`torch.compile` when it works. PyTorch gets its best eager form: fused Adam, foreach EMA, no
.item() inside the step. Prints one line per variant: median ms/step over --repeats steps.
"""
import argparse
import statistics
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except ImportError as e:
    sys.exit(f"bench_pytorch.py needs torch ({e}): pip install torch")

sys.path.insert(0, __file__.rsplit("/", 1)[0])
from wrn_reference import WideResNet  # noqa: E402


def interleave_offsets(batch, nu):
    groups = [batch // (nu + 1)] * (nu + 1)
    for x in range(batch - sum(groups)):
        groups[-x - 1] += 1
    offsets = [0]
    for g in groups:
        offsets.append(offsets[-1] + g)
    return offsets


def interleave(xy, batch):
    nu = len(xy) - 1
    off = interleave_offsets(batch, nu)
    xy = [[v[off[p]:off[p + 1]] for p in range(nu + 1)] for v in xy]
    for i in range(1, nu + 1):
        xy[0][i], xy[i][i] = xy[i][i], xy[0][i]
    return [torch.cat(v, dim=0) for v in xy]


def make_step(model, ema_model, opt, B, lr, device, lambda_u=75.0, T=0.5, alpha=0.75):
    params = [p for p in model.state_dict().values() if p.dtype == torch.float32]
    ema_params = [p for p in ema_model.state_dict().values() if p.dtype == torch.float32]
    beta = torch.distributions.Beta(torch.tensor(alpha, device=device), torch.tensor(alpha, device=device))

    def step(x, y_onehot, u1, u2, ramp):
        with torch.no_grad():
            p = (torch.softmax(model(u1), 1) + torch.softmax(model(u2), 1)) / 2
            pt = p ** (1 / T)
            q = pt / pt.sum(1, keepdim=True)
        inputs = torch.cat([x, u1, u2])
        targets = torch.cat([y_onehot, q, q])
        lam = beta.sample()
        lam = torch.maximum(lam, 1 - lam)
        idx = torch.randperm(inputs.size(0), device=device)
        mixed = lam * inputs + (1 - lam) * inputs[idx]
        mixed_t = lam * targets + (1 - lam) * targets[idx]
        chunks = interleave(list(torch.split(mixed, B)), B)
        logits = interleave([model(c) for c in chunks], B)
        lx = -torch.mean(torch.sum(F.log_softmax(logits[0], 1) * mixed_t[:B], 1))
        lu = torch.mean((torch.softmax(torch.cat(logits[1:]), 1) - mixed_t[B:]) ** 2)
        loss = lx + lambda_u * ramp * lu
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            torch._foreach_mul_(ema_params, 0.999)
            torch._foreach_add_(ema_params, params, alpha=0.001)
            torch._foreach_mul_(params, 1 - 0.02 * lr)
        return loss.detach()

    return step


def time_variant(name, B, repeats, warmup, tf32, channels_last, compile_model, device="cuda"):
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = WideResNet(28, 2, 10, 3, 1e-5, False).to(device).to(memory_format=fmt)
    ema = WideResNet(28, 2, 10, 3, 1e-5, False).to(device).to(memory_format=fmt)
    ema.load_state_dict(model.state_dict())
    lr = 0.002
    opt = torch.optim.Adam(model.parameters(), lr=lr, fused=device == "cuda")
    step = make_step(model, ema, opt, B, lr, device)
    if compile_model:
        step = torch.compile(step)
    g = torch.Generator(device=device).manual_seed(0)
    x, u1, u2 = (torch.randn(B, 3, 32, 32, device=device, generator=g).to(memory_format=fmt) for _ in range(3))
    y = F.one_hot(torch.arange(B, device=device) % 10, 10).float()
    ramp = torch.tensor(0.5, device=device)
    for _ in range(warmup):
        step(x, y, u1, u2, ramp)
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            step(x, y, u1, u2, ramp)
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b))
        else:
            t0 = time.perf_counter()
            step(x, y, u1, u2, ramp)
            times.append(1000 * (time.perf_counter() - t0))
    med = statistics.median(times)
    print(f"{name:44s} {med:9.3f} ms/step  (min {min(times):.3f}, {repeats} steps)", flush=True)
    return med


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--compile", choices=["both", "fp32", "tf32"], default="both",
                   help="which torch.compile variants to time (each compiles for about a minute)")
    p.add_argument("--device", default="cuda", help="cuda (the comparison that matters) or cpu (to check the script)")
    a = p.parse_args()
    if a.device == "cpu":
        torch.set_num_threads(max(1, torch.get_num_threads()))
        print(f"PyTorch {torch.__version__} on cpu ({torch.get_num_threads()} threads): MixMatch step, WRN-28-2, B={a.batch}")
        time_variant("eager fp32 (cpu)", a.batch, a.repeats, a.warmup, False, False, False, "cpu")
        return 0
    if not torch.cuda.is_available():
        print("bench_pytorch.py: no CUDA device", file=sys.stderr)
        return 2
    print(f"PyTorch {torch.__version__} on {torch.cuda.get_device_name()}: MixMatch step, WRN-28-2, B={a.batch}")
    time_variant("eager fp32 (TF32 off)", a.batch, a.repeats, a.warmup, False, False, False)
    time_variant("eager tf32", a.batch, a.repeats, a.warmup, True, False, False)
    time_variant("eager tf32 channels_last", a.batch, a.repeats, a.warmup, True, True, False)
    if not a.no_compile:
        for name, tf32 in (("torch.compile fp32 (TF32 off)", False), ("torch.compile tf32", True)):
            if a.compile != "both" and a.compile != ("tf32" if tf32 else "fp32"):
                continue
            try:
                time_variant(name, a.batch, a.repeats, a.warmup + 3, tf32, False, True)
            except Exception as e:  # compile can fail on machines without a working toolchain
                print(f"{name:44s} unavailable: {type(e).__name__}: {str(e)[:120]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
