#!/usr/bin/python3
"""Writes Fashion-MNIST as the JPEG tree flowtrain trains on (for the PyTorch reference only).

Layout: OUT/train/NNNNN.jpg, OUT/test/NNNNN.jpg (grayscale, PIL quality 95 by default),
OUT/train.csv and OUT/test.csv with header `Id,Label` (Id = file stem). flowtrain's own C++
importer is the authority on this layout; this script exists so train_fmnist.py --data can be
tried without it.
"""
import argparse
import os

from PIL import Image

from train_fmnist import read_idx


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--idx", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--out", required=True)
    ap.add_argument("--quality", type=int, default=95)
    args = ap.parse_args()
    for split, prefix in (("train", "train"), ("test", "t10k")):
        x = read_idx(os.path.join(args.idx, f"{prefix}-images-idx3-ubyte.gz"))
        y = read_idx(os.path.join(args.idx, f"{prefix}-labels-idx1-ubyte.gz"))
        d = os.path.join(args.out, split)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(args.out, split + ".csv"), "w") as f:
            f.write("Id,Label\n")
            for i, (im, lab) in enumerate(zip(x, y)):
                name = f"{i:05d}"
                Image.fromarray(im, mode="L").save(os.path.join(d, name + ".jpg"), quality=args.quality)
                f.write(f"{name},{int(lab)}\n")
        print(f"{split}: {len(y)} images -> {d}")


if __name__ == "__main__":
    main()
