#!/usr/bin/env python3
"""torchvision side of the data-path benchmark (tools/bench_data.sh runs it).

Reads the CSV layout that `flowtrain import` and `flowtrain synth` write (Id,Label) and runs the
same data path as the flowtrain benchmark config: PIL decode -> RandomRotation(+-10 deg, bilinear)
-> RandomHorizontalFlip -> ToTensor -> Normalize -> batches of 128, through a DataLoader with 2
worker processes. Prints one line `torchvision ... images_per_s=N`. Runs on any Python with torch
and torchvision (Debian's python3-torch, or the venv of tools/make_torch_venv.sh); the build and
the tests never need it.
"""
import argparse
import csv
import json
import os
import time

import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms


class CsvImages(Dataset):
    def __init__(self, images, labels, transform):
        with open(labels, newline="") as f:
            rows = list(csv.DictReader(f))
        self.items = [(os.path.join(images, r["Id"]), int(r["Label"])) for r in rows]
        self.transform = transform

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        path, label = self.items[i]
        with Image.open(path) as img:
            img.load()  # decode here, inside the worker, like ImageFolder's loader
            return self.transform(img), label


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", required=True)
    ap.add_argument("--labels", required=True)
    ap.add_argument("--batches", type=int, default=200, help="timed batches (after one warm-up batch)")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chain", choices=["rotate", "seed"], default="rotate",
                    help="rotate: rotate +-10, hflip, normalize; seed: the seed's 224 chain")
    ap.add_argument("--mean", default="[0.286]", help="per-channel mean, a JSON list")
    ap.add_argument("--std", default="[0.353]", help="per-channel std, a JSON list")
    args = ap.parse_args()

    norm = [transforms.ToTensor(), transforms.Normalize(json.loads(args.mean), json.loads(args.std))]
    if args.chain == "rotate":
        tf = transforms.Compose([
            transforms.RandomRotation(10, interpolation=transforms.InterpolationMode.BILINEAR, fill=0),
            transforms.RandomHorizontalFlip()] + norm)
    else:  # resize 224, random_resized_crop 224, hflip, trivial_augment_wide, normalize, erasing
        tf = transforms.Compose([
            transforms.Resize([224, 224]), transforms.RandomResizedCrop(224),
            transforms.RandomHorizontalFlip(), transforms.TrivialAugmentWide()] + norm +
            [transforms.RandomErasing(value="random")])
    ds = CsvImages(args.images, args.labels, tf)
    torch.manual_seed(0)
    loader = DataLoader(ds, batch_size=args.batch_size, shuffle=True, num_workers=args.workers,
                        drop_last=True, persistent_workers=False)
    it = iter(loader)
    next(it)  # warm-up: worker start-up and the first prefetch are not data-path throughput
    n = 0
    t0 = time.perf_counter()
    for _ in range(args.batches):
        try:
            x, _ = next(it)
        except StopIteration:
            it = iter(loader)
            x, _ = next(it)
        n += x.shape[0]
    dt = time.perf_counter() - t0
    print(f"torchvision chain={args.chain} workers={args.workers} batches={args.batches} images={n} seconds={dt:.2f} "
          f"images_per_s={n / dt:.0f} (torch {torch.__version__}, torchvision "
          f"{__import__('torchvision').__version__}, input {tuple(x.shape)})")


if __name__ == "__main__":
    main()
