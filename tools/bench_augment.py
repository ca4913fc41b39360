#!/usr/bin/env python3
"""torchvision side of the augment benchmark: images/s of each op and of the seed's training chain
in a DataLoader with 2 workers, over the same kind of images bench_augment uses (64x64 RGB u8 for
the chain and resize, 224x224 for the per-op cases), tensor path (uint8 tensors, no PIL).

Usage: python3 tools/bench_augment.py [workers=2] [images per case=512] [only cases containing TEXT]
"""
import sys
import time

import torch
import torchvision.transforms as T
from torch.utils.data import DataLoader, Dataset

MEAN, STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


class Images(Dataset):
    def __init__(self, n, size, transform):
        g = torch.Generator().manual_seed(0)
        channels = 1 if size == 28 else 3
        base = torch.randint(0, 256, (16, channels, size, size), dtype=torch.uint8, generator=g)
        self.base, self.n, self.transform = base, n, transform

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return self.transform(self.base[i % 16])


def measure(transform, size, workers, n):
    loader = DataLoader(Images(n, size, transform), batch_size=64, num_workers=workers,
                        persistent_workers=False)
    t0 = time.perf_counter()
    count = 0
    for batch in loader:
        count += batch.shape[0]
    return count / (time.perf_counter() - t0)


def main():
    workers = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 512
    only = sys.argv[3] if len(sys.argv) > 3 else ""
    to_float = T.ConvertImageDtype(torch.float32)
    cases = [
        ("resize 64->224 (bilinear)", 64, T.Resize([224, 224], antialias=True)),
        ("random_resized_crop 224 (from 224)", 224, T.RandomResizedCrop(224, antialias=True)),
        ("hflip p=0.5 (224)", 224, T.RandomHorizontalFlip()),
        ("trivial_augment_wide (224)", 224, T.TrivialAugmentWide()),
        ("normalize (224, u8 HWC -> f32 CHW)", 224, T.Compose([to_float, T.Normalize(MEAN, STD)])),
        ("normalize (224, u8 HWC -> bf16 CHW)", 224,
         T.Compose([to_float, T.Normalize(MEAN, STD), T.ConvertImageDtype(torch.bfloat16)])),
        ("normalize + random_erasing random (224)", 224,
         T.Compose([to_float, T.Normalize(MEAN, STD), T.RandomErasing(value="random")])),
        ("rotate +-10 bilinear (224)", 224, T.RandomRotation(10, interpolation=T.InterpolationMode.BILINEAR)),
        ("random_crop 224 pad 4 (224)", 224, T.RandomCrop(224, padding=4)),
        ("center_crop 200 (224)", 224, T.CenterCrop(200)),
        ("seed chain (64 -> 224, 6 ops)", 64, T.Compose([
            T.Resize([224, 224], antialias=True), T.RandomResizedCrop(224, antialias=True),
            T.RandomHorizontalFlip(), T.TrivialAugmentWide(), to_float, T.Normalize(MEAN, STD),
            T.RandomErasing(value="random")])),
        ("seed chain, bf16 output", 64, T.Compose([
            T.Resize([224, 224], antialias=True), T.RandomResizedCrop(224, antialias=True),
            T.RandomHorizontalFlip(), T.TrivialAugmentWide(), to_float, T.Normalize(MEAN, STD),
            T.RandomErasing(value="random"), T.ConvertImageDtype(torch.bfloat16)])),
        ("fmnist 28x28: rotate 10, hflip, normalize", 28, T.Compose([
            T.RandomRotation(10, interpolation=T.InterpolationMode.BILINEAR), T.RandomHorizontalFlip(),
            to_float, T.Normalize([0.286], [0.353])])),
        ("64x64 RGB: rotate 10, hflip, normalize", 64, T.Compose([
            T.RandomRotation(10, interpolation=T.InterpolationMode.BILINEAR), T.RandomHorizontalFlip(),
            to_float, T.Normalize(MEAN, STD)])),
    ]
    print(f"torchvision {__import__('torchvision').__version__} / torch {torch.__version__}: DataLoader "
          f"{workers} workers, batch 64, {n} images per case")
    for name, size, tf in cases:
        if only not in name:
            continue
        measure(tf, size, workers, 128)  # warm-up: worker start, first-call overheads
        print(f"{name:44s} {measure(tf, size, workers, n):10.1f} images/s", flush=True)


if __name__ == "__main__":
    main()
