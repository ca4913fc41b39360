#!/usr/bin/env python3
"""PyTorch peer of test_nn_gpu's "GPU training step throughput" case, for the device machine
(run by tools/gpu_check.sh with /opt/torch/.venv/bin/python): the same models, input sizes and
batches, a step = host input uploaded, forward, cross-entropy (label smoothing 0.1), backward,
SGD (momentum 0.9), timed over 20 steps after 3 warm-up steps with CUDA synchronisation, in f32
with TF32 off ("f32") and on ("tf32"), and in bf16 ("bf16": autocast to bfloat16 with the model
and input channels_last, TF32 off, as PyTorch's mixed precision runs; flowtrain's [run] precision =
"bf16"). Prints one line per case in the same format as test_nn_gpu.
usage: python tools/bench_train_gpu.py [--steps 20]"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

try:
    import torchvision
except ImportError:  # the device's venv may not have it: the torchvision models are skipped
    torchvision = None


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNetSmall(nn.Module):
    """flowtrain's resnet_small (widths 16/32/64, one BasicBlock per stage)."""

    def __init__(self, cin, classes, widths=(16, 32, 64)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(cin, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]), nn.ReLU())
        blocks, c = [], widths[0]
        for i, w in enumerate(widths):
            blocks.append(BasicBlock(c, w, 1 if i == 0 else 2))
            c = w
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1), 1))


CASES = [("resnet_small", 1, 28, 256, 10), ("resnet18", 3, 64, 128, 200), ("resnet50", 3, 224, 64, 200),
         ("resnext50_32x4d", 3, 224, 64, 200)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    a = ap.parse_args()
    dev = torch.device("cuda")
    print(f"torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, {torch.cuda.get_device_name(0)}")
    torch.backends.cudnn.benchmark = False
    for kind, c, hw, batch, classes in CASES:
        for mode in ("f32", "tf32", "bf16"):
            torch.backends.cudnn.allow_tf32 = mode == "tf32"
            torch.backends.cuda.matmul.allow_tf32 = mode == "tf32"
            bf16 = mode == "bf16"
            layout = torch.channels_last if bf16 else torch.contiguous_format
            if kind == "resnet_small":
                model = ResNetSmall(c, classes)
            elif torchvision is None:
                print(f"train step {kind:16s} skipped: no torchvision")
                break
            else:
                model = getattr(torchvision.models, kind)(num_classes=classes)
            model = model.to(dev, memory_format=layout).train()
            opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
            g = torch.Generator().manual_seed(1)
            x = torch.rand(batch, c, hw, hw, generator=g) * 2 - 1
            y = torch.randint(0, classes, (batch,), generator=g).to(dev)

            def step():
                opt.zero_grad(set_to_none=False)
                with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
                    loss = F.cross_entropy(model(x.to(dev, memory_format=layout)), y, label_smoothing=0.1)
                loss.backward()
                opt.step()

            for _ in range(3):
                step()
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(a.steps):
                step()
            torch.cuda.synchronize()
            sec = time.perf_counter() - t0
            print(f"train step {kind:16s} {hw:3d}x{hw:<3d} batch {batch:3d} {mode:4s}: "
                  f"{1e3 * sec / a.steps:8.1f} ms/step {batch * a.steps / sec:9.0f} images/s (PyTorch, host input)",
                  flush=True)


if __name__ == "__main__":
    main()
