#!/usr/bin/env python3
"""Plots of mmengine outputs (matplotlib; PNG files next to the CSVs).

  plot_metrics.py run DIR       DIR/metrics.csv      -> DIR/curves.png (losses, accuracies)
  plot_metrics.py ablate DIR    every run under DIR  -> DIR/ablate_curves.png (test accuracy, all runs), and per
                                recipe and label count, DIR/curves_<recipe>_L<labels>.png: one panel per cell
                                (BN mode x EMA), the selected model's test accuracy against step for each seed
                                (thin) and their mean (thick); cells from DIR/ablate.csv
  plot_metrics.py bn-probe DIR  DIR/bn_probe.csv     -> DIR/bn_probe_mean.png, DIR/bn_probe_var.png
"""
import csv
import os
import sys

plt = None  # matplotlib.pyplot, imported in main() (the CSV helpers work without it)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def series(rows, key):
    xs, ys = [], []
    for r in rows:
        if r.get(key, "") not in ("", None):
            xs.append(float(r["step"]))
            ys.append(float(r[key]))
    return xs, ys


def plot_run(d):
    rows = read_csv(os.path.join(d, "metrics.csv"))
    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.5))
    for key in ("loss", "loss_x", "loss_u"):
        a.plot(*series(rows, key), label=key)
    a.set_xlabel("step")
    a.set_yscale("log")
    a.set_title("losses")
    a.legend()
    for key in ("val_acc_teacher", "test_acc_teacher", "val_acc_student", "test_acc_student"):
        xs, ys = series(rows, key)
        if xs:
            b.plot(xs, ys, marker="o", label=key)
    b.set_xlabel("step")
    b.set_ylabel("accuracy (%)")
    b.set_title("accuracy")
    b.legend()
    fig.suptitle(d)
    fig.tight_layout()
    out = os.path.join(d, "curves.png")
    fig.savefig(out, dpi=100)
    print("wrote", out)


def plot_ablate(d):
    fig, (a, b) = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    for root, _, files in sorted(os.walk(d)):
        if "metrics.csv" not in files:
            continue
        rows = read_csv(os.path.join(root, "metrics.csv"))
        name = os.path.relpath(root, d)
        for ax, who in ((a, "teacher"), (b, "student")):
            xs, ys = series(rows, f"test_acc_{who}")
            if xs:
                ax.plot(xs, ys, marker=".", label=name)
    for ax, who in ((a, "teacher (EMA)"), (b, "student")):
        ax.set_title(f"test accuracy: {who}")
        ax.set_xlabel("step")
    a.set_ylabel("accuracy (%)")
    b.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    out = os.path.join(d, "ablate_curves.png")
    fig.savefig(out, dpi=100)
    print("wrote", out)


def cell_curves(d):
    """{(recipe, labels): {(mode, ema): [(seed, steps, accuracies)]}} of the complete runs in
    DIR/ablate.csv; the accuracy is the selected model's (teacher with EMA on, else student)."""
    groups = {}
    for r in read_csv(os.path.join(d, "ablate.csv")):
        path = os.path.join(d, r["dir"], "metrics.csv")
        if r["status"] != "complete" or not os.path.exists(path):
            continue
        who = "teacher" if r["ema"] == "on" else "student"
        xs, ys = series(read_csv(path), f"test_acc_{who}")
        cells = groups.setdefault((r["recipe"], r["labels"]), {})
        cells.setdefault((r["bn_mode"], r["ema"]), []).append((r["seed"], xs, ys))
    return groups


def plot_cells(d):
    for (recipe, labels), cells in cell_curves(d).items():
        modes = list(dict.fromkeys(m for m, _ in cells))
        emas = list(dict.fromkeys(e for _, e in cells))
        fig, axes = plt.subplots(len(emas), len(modes), figsize=(3.6 * len(modes), 3.2 * len(emas)),
                                 sharex=True, sharey=True, squeeze=False)
        for (mode, ema), runs in cells.items():
            ax = axes[emas.index(ema)][modes.index(mode)]
            for seed, xs, ys in runs:
                ax.plot(xs, ys, lw=0.8, alpha=0.6, label=f"seed {seed}")
            n = min(len(ys) for _, _, ys in runs)
            if n:
                mean = [sum(ys[i] for _, _, ys in runs) / len(runs) for i in range(n)]
                ax.plot(runs[0][1][:n], mean, "k", lw=2, label="mean")
            ax.set_title(f"{mode}, EMA {ema} ({len(runs)} seeds)", fontsize=9)
            ax.set_xlabel("step")
        for row in axes:
            row[0].set_ylabel("test accuracy (%)")
        axes[0][0].legend(fontsize=7)
        fig.suptitle(f"recipe {recipe}, {labels} labels: selected model's test accuracy")
        fig.tight_layout()
        out = os.path.join(d, f"curves_{recipe}_L{labels}.png")
        fig.savefig(out, dpi=90)
        plt.close(fig)
        print("wrote", out)


def plot_bn_probe(d):
    rows = read_csv(os.path.join(d, "bn_probe.csv"))
    layers = list(dict.fromkeys(r["layer"] for r in rows))
    modes = list(dict.fromkeys(r["mode"] for r in rows))
    running = {r["layer"]: r for r in read_csv(os.path.join(d, "bn_running.csv"))}
    for key, run_key, title, fname in (
            ("mean_normalized_deviation", "running_mean_normalized_gap", "|mu_batch - mu_pop| / sigma_pop", "bn_probe_mean.png"),
            ("mean_abs_log_var_ratio", "running_abs_log_var_ratio", "|log(var_batch / var_pop)|", "bn_probe_var.png")):
        fig, ax = plt.subplots(figsize=(13, 5))
        for m in modes:
            ys = [float(next(r[key] for r in rows if r["layer"] == l and r["mode"] == m)) for l in layers]
            ax.plot(range(len(layers)), ys, marker="o", label=m)
        ax.plot(range(len(layers)), [float(running[l][run_key]) for l in layers], "k--", label="running statistics")
        ax.set_xticks(range(len(layers)))
        ax.set_xticklabels(layers, rotation=75, fontsize=7)
        ax.set_title(title + " per BatchNorm layer (mean over channels and batches)")
        ax.set_yscale("log")
        ax.legend()
        fig.tight_layout()
        out = os.path.join(d, fname)
        fig.savefig(out, dpi=100)
        print("wrote", out)


def main():
    global plt
    if len(sys.argv) != 3 or sys.argv[1] not in ("run", "ablate", "bn-probe"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        import matplotlib
    except ImportError:
        print("plot_metrics.py needs matplotlib, which is not installed (pip install matplotlib, or apt-get install "
              "python3-matplotlib): no PNG written (the CSV files hold every number)", file=sys.stderr)
        return 3
    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot
    plt = pyplot
    if sys.argv[1] == "ablate":
        plot_ablate(sys.argv[2])
        if os.path.exists(os.path.join(sys.argv[2], "ablate.csv")):
            plot_cells(sys.argv[2])
    else:
        {"run": plot_run, "bn-probe": plot_bn_probe}[sys.argv[1]](sys.argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main())
