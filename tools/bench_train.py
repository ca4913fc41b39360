#!/usr/bin/python3
"""PyTorch twin of bench_train: training images/s (forward + cross-entropy + backward + SGD with
momentum 0.9 and weight decay 5e-4) for one model, batch N, T threads; --bf16: as a PyTorch user
runs bf16 on the CPU (channels_last model and input, bf16 autocast around forward and loss).
usage: /usr/bin/python3 tools/bench_train.py MODEL C H W [--batch 128] [--threads 2] [--steps 10] [--warmup 2] [--bf16]"""
import argparse
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_nn_fixtures import MiniResNet  # noqa: E402


class ResNetSmall(nn.Module):
    """flowtrain's resnet_small: conv3x3 stem, stages of torchvision BasicBlocks, avgpool, fc."""

    def __init__(self, in_channels, classes, widths=(16, 32, 64), blocks=(1, 1, 1)):
        super().__init__()
        BasicBlock = torchvision.models.resnet.BasicBlock
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        inplanes = widths[0]
        for i, (w, b) in enumerate(zip(widths, blocks)):
            layers = []
            for j in range(b):
                stride = 2 if (j == 0 and i > 0) else 1
                down = None
                if stride != 1 or inplanes != w:
                    down = nn.Sequential(nn.Conv2d(inplanes, w, 1, stride, bias=False), nn.BatchNorm2d(w))
                layers.append(BasicBlock(inplanes, w, stride, down))
                inplanes = w
            setattr(self, f"layer{i + 1}", nn.Sequential(*layers))
        self.nstages = len(widths)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, classes)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        for i in range(self.nstages):
            x = getattr(self, f"layer{i + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build(kind, c, h, w, classes):
    if kind == "mini_resnet":
        return MiniResNet(6, 32, c, h, classes)
    if kind == "resnet_small":
        return ResNetSmall(c, classes)
    return getattr(torchvision.models, kind)(num_classes=classes)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("c", type=int)
    ap.add_argument("h", type=int)
    ap.add_argument("w", type=int)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--bf16", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    classes = 10 if a.model == "resnet_small" else 200
    model = build(a.model, a.c, a.h, a.w, classes).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    g = torch.Generator().manual_seed(1)
    x = torch.rand(a.batch, a.c, a.h, a.w, generator=g) * 2 - 1
    y = torch.randint(0, classes, (a.batch,), generator=g)
    if a.bf16:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    fwd = bwd = upd = 0.0
    step_s = []
    for step in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=a.bf16):
            loss = F.cross_entropy(model(x), y, label_smoothing=0.1)
        t1 = time.perf_counter()
        opt.zero_grad()
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        if step >= a.warmup:
            fwd, bwd, upd = fwd + t1 - t0, bwd + t2 - t1, upd + t3 - t2
            step_s.append(t3 - t0)
    n = a.steps
    median = sorted(step_s)[len(step_s) // 2]  # steadier than the mean on a shared machine
    precision = "bf16" if a.bf16 else "f32"
    print(f"pytorch   {precision:<4} {a.model:<13} {a.c}x{a.h}x{a.w} batch {a.batch} threads {a.threads}: {a.batch / median:7.1f} images/s "
          f"(median step {1e3 * median:.0f} ms; mean forward {1e3 * fwd / n:.0f} ms, backward {1e3 * bwd / n:.0f} ms, "
          f"update {1e3 * upd / n:.0f} ms)")


if __name__ == "__main__":
    main()
