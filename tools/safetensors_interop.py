#!/usr/bin/env python3
"""Loads a run's `flowtrain export` file into torchvision and checks it against the run.

    flowtrain export RUN_DIR --format safetensors
    python3 tools/safetensors_interop.py RUN_DIR [--device cpu]

Needs torch, torchvision and safetensors (pip install torch torchvision safetensors); not run by
the tests (they read the file with a pure-Python reader instead: tests/cli/export_test.cpp).
Checks, in order:
  1. safetensors.torch.load_file reads RUN_DIR/model.safetensors;
  2. torchvision.models.<[model] kind>(num_classes=...) loads it with strict=True (every name,
     shape and buffer matches) and the tensors equal the file's;
  3. when the run wrote predictions.csv, the model in eval mode, fed the test images through the
     run's eval ops (resize, center_crop, normalize, to_rgb), predicts the same labels: flowtrain
     does not save logits, so the labels stand in for them (a logit difference beyond float
     tolerance would flip some of them on a real dataset).
Exit 0 when everything holds, 1 otherwise (with the first mismatches), 3 when a package is missing.
"""
import argparse
import csv
import os
import sys

try:
    import tomllib
except ImportError:  # Python < 3.11
    tomllib = None


def eval_ops(cfg):
    """The ops of the augment stage(s) that see the test split, in graph order."""
    ops = []
    for st in cfg.get("stage", []):
        if st.get("kind") != "augment":
            continue
        if "test" in st.get("splits", ["train", "val", "test"]):
            ops += st.get("ops", [])
    return ops


def preprocess(path, ops, torch, F, Image):
    img = Image.open(path)
    img = img.convert("RGB") if img.mode not in ("L", "RGB") else img
    x = F.pil_to_tensor(img)  # u8 CHW
    for op in ops:
        kind = op["op"]
        if kind == "resize":
            # N: the smaller edge becomes N; [h, w]: exactly h x w (flowtrain's meaning too)
            x = F.resize(x, op["size"], antialias=op.get("antialias", True))
        elif kind == "center_crop":
            x = F.center_crop(x, op["size"])
        elif kind == "to_rgb":
            x = x.expand(3, -1, -1) if x.shape[0] == 1 else x
        elif kind == "normalize":
            x = x.float() / 255
            mean, std = op["mean"], op["std"]
            x = F.normalize(x, mean * (x.shape[0] // len(mean)), std * (x.shape[0] // len(std)))
        else:
            raise SystemExit(f"safetensors_interop.py: eval op {kind!r} is not handled here")
    return x if x.dtype == torch.float32 else x.float() / 255


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run_dir")
    ap.add_argument("--file", help="default RUN_DIR/model.safetensors")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    try:
        import torch
        import torchvision
        import torchvision.transforms.functional as F
        from PIL import Image
        from safetensors.torch import load_file
    except ImportError as e:
        print(f"safetensors_interop.py: {e}; pip install torch torchvision safetensors", file=sys.stderr)
        return 3
    if tomllib is None:
        print("safetensors_interop.py: needs Python 3.11+ (tomllib)", file=sys.stderr)
        return 3
    with open(os.path.join(args.run_dir, "config.toml"), "rb") as f:
        cfg = tomllib.load(f)
    kind = cfg.get("model", {}).get("kind", "resnet_small")
    classes = cfg.get("model", {}).get("num_classes", 10)
    if not hasattr(torchvision.models, kind):
        print(f"safetensors_interop.py: [model] kind {kind!r} is not a torchvision model", file=sys.stderr)
        return 1
    state = load_file(args.file or os.path.join(args.run_dir, "model.safetensors"))
    model = getattr(torchvision.models, kind)(num_classes=classes)
    model.load_state_dict(state, strict=True)
    for name, t in model.state_dict().items():
        if not torch.equal(t, state[name]):
            print(f"tensor {name} differs after loading", file=sys.stderr)
            return 1
    print(f"{kind}: strict load of {len(state)} tensors OK")

    pred_path = os.path.join(args.run_dir, "predictions.csv")
    test = cfg.get("data", {}).get("test", {})
    if not os.path.exists(pred_path) or "images" not in test:
        print("no predictions.csv or test split: labels not compared")
        return 0
    with open(pred_path, newline="") as f:
        expected = {row["Id"]: int(row["Label"]) for row in csv.DictReader(f)}
    ops = eval_ops(cfg)
    model.eval().to(args.device)
    names = sorted(expected)
    same = 0
    with torch.no_grad():
        for i in range(0, len(names), 64):
            chunk = names[i:i + 64]
            x = torch.stack([preprocess(os.path.join(test["images"], n), ops, torch, F, Image)
                             for n in chunk]).to(args.device)
            got = model(x).argmax(1).tolist()
            for n, g in zip(chunk, got):
                same += g == expected[n]
                if g != expected[n] and same < 5:
                    print(f"  {n}: flowtrain {expected[n]}, torchvision {g}")
    print(f"predicted labels agree on {same}/{len(names)} test images")
    return 0 if same >= 0.99 * len(names) else 1


if __name__ == "__main__":
    sys.exit(main())
