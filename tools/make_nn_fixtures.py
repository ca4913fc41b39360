#!/usr/bin/python3
"""Writes the PyTorch reference fixtures for kernels/nn (run: /usr/bin/python3 tools/make_nn_fixtures.py).

Files (tests/fixtures/nn/*.bin), format version 1, little-endian:
  b"FTNNFIX\\0", u32 version, u32 count, then per record: u32 name length, name (utf-8),
  u32 ndim, i64 dims[ndim], f32 data[prod(dims)].
Model weights and inputs are not stored: both sides generate them with hash_uniform() below
(the C++ twin is in tests/kernels/nn/fixture.hpp), so resnet18's 11M weights cost nothing.
"""
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

VERSION = 1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "nn")


def hash_uniform(n, salt):
    """n values in [-1, 1): a 32-bit integer hash of (index, salt), then x / 2^32 * 2 - 1 in float64."""
    i = np.arange(n, dtype=np.uint64)
    m = np.uint64(0xFFFFFFFF)
    x = (i * np.uint64(0x9E3779B1) + np.uint64(salt) * np.uint64(0x85EBCA77) + np.uint64(0x165667B1)) & m
    x ^= x >> np.uint64(16)
    x = (x * np.uint64(0x85EBCA6B)) & m
    x ^= x >> np.uint64(13)
    x = (x * np.uint64(0xC2B2AE35)) & m
    x ^= x >> np.uint64(16)
    return x.astype(np.float64) / 4294967296.0 * 2.0 - 1.0


def hash_tensor(shape, salt, scale=1.0, offset=0.0):
    n = int(np.prod(shape)) if len(shape) else 1
    return torch.from_numpy((hash_uniform(n, salt) * scale + offset).astype(np.float32).reshape(shape))


def fill_model(model):
    """Parameter k (state_dict order): conv/linear weights U(+-sqrt(6/fan_in)), biases U(+-0.1),
    BN weights 1 + U(+-0.1), BN biases U(+-0.1). The C++ side does the same by name and role."""
    bn_params = set()
    for mod in model.modules():
        if isinstance(mod, (nn.BatchNorm1d, nn.BatchNorm2d)):
            bn_params.add(id(mod.weight))
            bn_params.add(id(mod.bias))
    with torch.no_grad():
        for k, (name, p) in enumerate(model.named_parameters()):
            if id(p) in bn_params:
                p.copy_(hash_tensor(p.shape, k, 0.1, 1.0 if name.endswith("weight") else 0.0))
            elif p.dim() > 1:
                fan_in = int(np.prod(p.shape[1:]))
                p.copy_(hash_tensor(p.shape, k, float(np.sqrt(6.0 / fan_in))))
            else:
                p.copy_(hash_tensor(p.shape, k, 0.1))


class Writer:
    def __init__(self):
        self.records = []

    def add(self, name, t):
        a = t.detach().cpu().numpy().astype(np.float32) if torch.is_tensor(t) else np.asarray(t, np.float32)
        self.records.append((name, a))

    def add_summary(self, name, t):
        """sum, sum of squares and sum of |x| (in float64) of a tensor too large to store whole."""
        a = t.detach().double()
        self.add(name + "#sum", torch.tensor([a.sum(), (a * a).sum(), a.abs().sum()]))

    def write(self, filename):
        path = os.path.join(OUT, filename)
        with open(path, "wb") as f:
            f.write(b"FTNNFIX\0" + struct.pack("<II", VERSION, len(self.records)))
            for name, a in self.records:
                nb = name.encode()
                f.write(struct.pack("<I", len(nb)) + nb + struct.pack("<I", a.ndim))
                f.write(struct.pack("<%dq" % a.ndim, *a.shape))
                f.write(np.ascontiguousarray(a, dtype="<f4").tobytes())
        print(f"wrote {path} ({os.path.getsize(path)} bytes, {len(self.records)} records)")


def layer_case(w, name, module, x_shape, salt):
    """Forward in training mode on a hash input, backward of sum(y * dy); stores x, dy, params,
    y, dx, param grads (and BN running stats after the step)."""
    params = list(module.named_parameters())
    for k, (pname, p) in enumerate(params):
        with torch.no_grad():
            p.copy_(hash_tensor(p.shape, salt + 10 + k, 0.5, 1.0 if isinstance(module, nn.modules.batchnorm._BatchNorm) and pname == "weight" else 0.0))
        w.add(f"{name}/{pname}", p)
    x = hash_tensor(x_shape, salt).requires_grad_(True)
    y = module(x)
    dy = hash_tensor(tuple(y.shape), salt + 1)
    y.backward(dy)
    w.add(f"{name}/x", x)
    w.add(f"{name}/dy", dy)
    w.add(f"{name}/y", y)
    w.add(f"{name}/dx", x.grad)
    for pname, p in params:
        w.add(f"{name}/d{pname}", p.grad)
    for bname, b in module.named_buffers():
        if bname != "num_batches_tracked":
            w.add(f"{name}/{bname}", b)


def make_layers():
    torch.manual_seed(0)
    w = Writer()
    # Keep these configurations in sync with tests/kernels/nn/layers_fixture_test.cpp.
    layer_case(w, "conv_3x3_s1_p1", nn.Conv2d(3, 4, 3, 1, 1), (2, 3, 6, 5), 100)
    layer_case(w, "conv_3x3_s2_p1_nobias", nn.Conv2d(4, 6, 3, 2, 1, bias=False), (2, 4, 7, 7), 200)
    layer_case(w, "conv_g2", nn.Conv2d(4, 6, 3, 1, 1, groups=2), (2, 4, 5, 5), 300)
    layer_case(w, "conv_7x7_s2_p3", nn.Conv2d(3, 8, 7, 2, 3, bias=False), (2, 3, 11, 11), 400)
    layer_case(w, "conv_same_k4", nn.Conv2d(2, 3, 4, padding="same"), (2, 2, 5, 6), 500)
    layer_case(w, "conv_1x1_s2", nn.Conv2d(4, 8, 1, 2, 0, bias=False), (2, 4, 6, 6), 600)
    layer_case(w, "bn2d", nn.BatchNorm2d(3), (3, 3, 4, 3), 700)
    layer_case(w, "bn1d", nn.BatchNorm1d(5), (6, 5), 800)
    bn_eval = nn.BatchNorm2d(3)
    with torch.no_grad():
        bn_eval.running_mean.copy_(hash_tensor((3,), 901, 0.5))
        bn_eval.running_var.copy_(hash_tensor((3,), 902, 0.5, 1.0))
    w.add("bn2d_eval/running_mean_in", bn_eval.running_mean.clone())
    w.add("bn2d_eval/running_var_in", bn_eval.running_var.clone())
    layer_case(w, "bn2d_eval", bn_eval.eval(), (2, 3, 3, 3), 900)
    layer_case(w, "linear", nn.Linear(12, 5), (3, 12), 1000)
    layer_case(w, "relu", nn.ReLU(), (2, 3, 4, 4), 1100)
    layer_case(w, "maxpool_2", nn.MaxPool2d(2), (2, 2, 5, 4), 1200)
    layer_case(w, "maxpool_3_s2_p1", nn.MaxPool2d(3, 2, 1), (2, 2, 7, 6), 1300)
    layer_case(w, "avgpool", nn.AdaptiveAvgPool2d(1), (2, 3, 3, 5), 1400)
    # Cross-entropy with label smoothing, mean reduction.
    logits = hash_tensor((5, 7), 1500, 3.0).requires_grad_(True)
    labels = torch.tensor([0, 3, 6, 2, 2])
    loss = F.cross_entropy(logits, labels, label_smoothing=0.1)
    loss.backward()
    w.add("ce/logits", logits)
    w.add("ce/labels", labels.float())
    w.add("ce/loss", loss.reshape(1))
    w.add("ce/per_sample", F.cross_entropy(logits, labels, label_smoothing=0.1, reduction="none"))
    w.add("ce/dlogits", logits.grad)
    w.write("layers.bin")


class MiniResNet(nn.Module):
    """The seed's network, with a width base and block count as parameters."""

    def __init__(self, blocks, width, in_channels, hw, classes):
        super().__init__()
        self.blocks = blocks
        c = in_channels
        for i in range(1, blocks + 1):
            out = width * 2 ** (i - 1)
            setattr(self, f"conv{i}", nn.Sequential(
                nn.Conv2d(c, out, 3, padding="same"), nn.BatchNorm2d(out), nn.ReLU(),
                nn.Conv2d(out, out, 3, padding="same"), nn.BatchNorm2d(out)))
            setattr(self, f"skip{i}", nn.Conv2d(c, out, 1))
            c = out
            hw //= 2
        self.activation = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Linear(c * hw * hw, 4096), nn.BatchNorm1d(4096), nn.ReLU(),
                                  nn.Linear(4096, classes))

    def forward(self, x):
        for i in range(1, self.blocks + 1):
            x = self.activation(getattr(self, f"conv{i}")(x) + getattr(self, f"skip{i}")(x))
        return self.head(torch.flatten(x, 1))


def model_case(model, filename, x_shape, classes, full_grads, full_limit):
    """One training-mode forward on a hash input, cross-entropy (smoothing 0.1), backward. Stores
    gradients and buffers whole when named in full_grads or small (<= full_limit values), and
    the sum / sum of squares / sum of |x| of every one."""
    fill_model(model)
    model.train()
    w = Writer()
    x = hash_tensor(x_shape, 7777)
    labels = torch.arange(x_shape[0]) % classes
    logits = model(x)
    loss = F.cross_entropy(logits, labels, label_smoothing=0.1)
    loss.backward()
    w.add("logits", logits)
    w.add("loss", loss.reshape(1))
    with torch.no_grad():  # eval mode after the step: batch norm uses the updated running stats
        w.add("eval_logits", model.eval()(x))
    model.train()
    for name, p in model.named_parameters():
        if name in full_grads or p.numel() <= full_limit:
            w.add("grad/" + name, p.grad)
        w.add_summary("grad/" + name, p.grad)
    for name, b in model.named_buffers():
        if name.endswith("num_batches_tracked"):
            continue
        if b.numel() <= full_limit:
            w.add("buffer/" + name, b)
        w.add_summary("buffer/" + name, b)
    w.write(filename)


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.set_num_threads(2)
    make_layers()
    # Keep in sync with tests/kernels/nn/model_fixture_test.cpp.
    model_case(MiniResNet(3, 4, 3, 16, 5), "mini_resnet.bin", (4, 3, 16, 16), 5, set(), 4096)
    model_case(torchvision.models.resnet18(num_classes=10), "resnet18.bin", (4, 3, 32, 32), 10,
               {"conv1.weight", "layer1.0.bn1.weight", "layer2.0.downsample.0.weight", "layer4.1.bn2.bias",
                "fc.weight", "fc.bias"}, 0)
    model_case(torchvision.models.resnext50_32x4d(num_classes=10), "resnext50_32x4d.bin", (4, 3, 64, 64), 10,
               {"fc.weight", "fc.bias"}, 0)
    counts = {k: sum(p.numel() for p in getattr(torchvision.models, k)().parameters())
              for k in ("resnet18", "resnet34", "resnet50", "resnext50_32x4d")}
    print("torchvision parameter counts at 1000 classes:", counts)


if __name__ == "__main__":
    sys.exit(main())
