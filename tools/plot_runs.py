#!/usr/bin/python3
"""Training curves of one or more flowtrain run folders, overlaid like an experiment tracker.

Reads each RUN/metrics.csv (scope,split,epoch,step,lr,loss,top1,top5,images_per_s,time_s) and draws
loss, top-1 and learning rate against epochs: train from the step rows (fractional epochs),
val from the epoch rows. One colour per run; train solid, val dashed with markers.

    /usr/bin/python3 tools/plot_runs.py runs/a runs/b --out compare.png   # default: RUN1/curves.png

Exit codes: 0 written, 2 bad input (no metrics.csv, no rows), 3 matplotlib is not installed.
"""
import argparse
import csv
import os
import sys


def read_metrics(run_dir):
    """Returns (step_rows, epoch_rows) of a run; a resumed run's repeated rows keep the last copy."""
    path = os.path.join(run_dir, "metrics.csv")
    steps, epochs = {}, {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            try:
                rec = {
                    "split": row["split"],
                    "epoch": int(row["epoch"]),
                    "step": int(row["step"]),
                    "lr": float(row["lr"]),
                    "loss": float(row["loss"]),
                    "top1": float(row["top1"]),
                }
            except (KeyError, ValueError, TypeError):
                continue  # a truncated last line of a run that was killed mid-write
            if row["scope"] == "step":
                steps[(rec["epoch"], rec["step"])] = rec
            elif row["scope"] == "epoch":
                epochs[(rec["split"], rec["epoch"])] = rec
    step_rows = sorted(steps.values(), key=lambda r: (r["epoch"], r["step"]))
    epoch_rows = sorted(epochs.values(), key=lambda r: r["epoch"])
    return step_rows, epoch_rows


def fractional_epochs(step_rows, epoch_rows):
    """Epoch position of each step row: (e - 1) + steps into epoch e / steps in epoch e.

    The train epoch rows give the global step at the end of each epoch; an epoch without one (the
    run stopped, or a resumed run's first epoch) uses the typical epoch length."""
    end_step = {r["epoch"]: r["step"] for r in epoch_rows if r["split"] == "train"}
    lengths = [end_step[1]] if 1 in end_step else []
    lengths += [end_step[e] - end_step[e - 1] for e in end_step if e - 1 in end_step]
    typical = sorted(lengths)[len(lengths) // 2] if lengths else None
    xs = []
    for r in step_rows:
        e = r["epoch"]
        start = end_step.get(e - 1, 0 if e == 1 else None)
        end = end_step.get(e)
        if start is None and end is not None and typical:
            start = end - typical
        if end is None and start is not None and typical:
            end = start + typical
        if start is None or end is None:  # nothing to go by: spread this epoch's logged steps
            in_epoch = [s["step"] for s in step_rows if s["epoch"] == e]
            start, end = min(in_epoch) - 1, max(in_epoch)
        span = max(end - start, 1)
        xs.append((e - 1) + min(max(r["step"] - start, 0), span) / span)
    return xs


def run_labels(run_dirs):
    """Folder names; parent/name where two runs share a name (ablation variants are unique)."""
    names = [os.path.basename(os.path.normpath(d)) for d in run_dirs]
    out = []
    for d, n in zip(run_dirs, names):
        if names.count(n) > 1:
            parts = os.path.normpath(d).split(os.sep)
            n = "/".join(parts[-2:])
        out.append(n)
    return out


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="run folders (each with metrics.csv)")
    ap.add_argument("--out", help="PNG path (default: <first run>/curves.png)")
    ap.add_argument("--title", help="chart title")
    args = ap.parse_args(argv)

    data = []
    for d in args.runs:
        if not os.path.isfile(os.path.join(d, "metrics.csv")):
            print(f"plot_runs.py: {d}: no metrics.csv (not a run folder?)", file=sys.stderr)
            return 2
        steps, epochs = read_metrics(d)
        if not steps and not epochs:
            print(f"plot_runs.py: {d}/metrics.csv has no rows yet", file=sys.stderr)
            return 2
        data.append((d, steps, epochs))

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.lines import Line2D
    except ImportError:
        print("plot_runs.py: matplotlib is not installed (apt-get install python3-matplotlib); no chart drawn",
              file=sys.stderr)
        return 3

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5))
    ax_loss, ax_top1, ax_lr = axes
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    labels = run_labels(args.runs)
    for i, ((d, steps, epochs), label) in enumerate(zip(data, labels)):
        c = colors[i % len(colors)]
        xs = fractional_epochs(steps, epochs) if steps else []
        if steps:
            ax_loss.plot(xs, [r["loss"] for r in steps], color=c, lw=1.2, alpha=0.9)
            ax_top1.plot(xs, [100 * r["top1"] for r in steps], color=c, lw=1.2, alpha=0.9)
            ax_lr.plot(xs, [r["lr"] for r in steps], color=c, lw=1.2)
        val = [r for r in epochs if r["split"] == "val"]
        if val:
            ex = [r["epoch"] for r in val]
            ax_loss.plot(ex, [r["loss"] for r in val], color=c, ls="--", marker="o", ms=4)
            ax_top1.plot(ex, [100 * r["top1"] for r in val], color=c, ls="--", marker="o", ms=4)
        if not steps:  # no step rows (log_every larger than an epoch): train per epoch
            tr = [r for r in epochs if r["split"] == "train"]
            ax_loss.plot([r["epoch"] for r in tr], [r["loss"] for r in tr], color=c, marker=".")
            ax_top1.plot([r["epoch"] for r in tr], [100 * r["top1"] for r in tr], color=c, marker=".")
            ax_lr.plot([r["epoch"] for r in tr], [r["lr"] for r in tr], color=c, marker=".")

    ax_loss.set_title("loss")
    ax_top1.set_title("top-1 (%)")
    ax_lr.set_title("learning rate")
    for ax in axes:
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
    handles = [Line2D([], [], color=colors[i % len(colors)], lw=2, label=l) for i, l in enumerate(labels)]
    handles += [Line2D([], [], color="gray", lw=1.2, label="train"),
                Line2D([], [], color="gray", ls="--", marker="o", ms=4, label="val")]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), frameon=False)
    if args.title:
        fig.suptitle(args.title)
    fig.tight_layout(rect=(0, 0.1 if len(handles) <= 6 else 0.16, 1, 1))

    out = args.out or os.path.join(args.runs[0], "curves.png")
    tmp = out + ".tmp.png"
    fig.savefig(tmp, dpi=100)
    os.replace(tmp, out)
    print(f"curves: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
