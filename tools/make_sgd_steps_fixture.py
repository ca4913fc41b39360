#!/usr/bin/python3
"""Writes tests/fixtures/nn/sgd_steps.bin: mini_resnet and resnet18 after 3 SGD training steps in
PyTorch 1.13 (run: /usr/bin/python3 tools/make_sgd_steps_fixture.py). A separate script from
make_nn_fixtures.py so that regenerating this file never rewrites the other nn fixtures; it reuses
that script's hash weights/inputs (fill_model, hash_tensor), MiniResNet and file format (Writer).

Per model (record names prefixed "<model>/"): "loss" (the 3 step losses); for every parameter
"param/<name>#sum" and "delta/<name>#sum" (sum, sum of squares, sum of |x| in float64 of the
final value and of final - initial value), whole values "param/<name>" for a few; for every batch
norm buffer "buffer/<name>#sum", whole values for the first batch norm's.
Keep the scenario in sync with tests/kernels/nn/sgd_steps_test.cpp.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_nn_fixtures import MiniResNet, Writer, fill_model, hash_tensor  # noqa: E402

STEPS = 3
BATCH = 4
# lr 0.01 and resnet18 at 64x64: at lr 0.1, or at 32x32, PyTorch's own f32 and f64 runs part by
# 1e-2..0.4 (the losses diverge / batch norm amplifies rounding); see sgd_steps_test.cpp.
LR, MOMENTUM, WEIGHT_DECAY, SMOOTHING = 0.01, 0.9, 5e-4, 0.1


def no_decay_split(model):
    """flowtrain's ParamRole rule: biases (ParamRole::bias) and batch-norm weight/bias
    (ParamRole::norm) get no weight decay; every other parameter does."""
    bn = set()
    for mod in model.modules():
        if isinstance(mod, nn.modules.batchnorm._BatchNorm):
            bn.update((id(mod.weight), id(mod.bias)))
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        (no_decay if id(p) in bn or name.endswith("bias") else decay).append(p)
    return decay, no_decay


def sgd_case(w, prefix, model, x_shape, classes, full_params, full_buffers):
    fill_model(model)
    model.train()
    init = {name: p.detach().clone() for name, p in model.named_parameters()}
    decay, no_decay = no_decay_split(model)
    opt = torch.optim.SGD([{"params": decay, "weight_decay": WEIGHT_DECAY},
                           {"params": no_decay, "weight_decay": 0.0}],
                          lr=LR, momentum=MOMENTUM, dampening=0, nesterov=True)
    losses = []
    for step in range(STEPS):
        x = hash_tensor(x_shape, 8000 + step)  # a different batch each step
        labels = (torch.arange(x_shape[0]) * 3 + step) % classes
        opt.zero_grad()
        loss = F.cross_entropy(model(x), labels, label_smoothing=SMOOTHING)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    w.add(prefix + "loss", torch.tensor(losses))
    for name, p in model.named_parameters():
        if name in full_params:
            w.add(prefix + "param/" + name, p)
        w.add_summary(prefix + "param/" + name, p)
        w.add_summary(prefix + "delta/" + name, p.detach().double() - init[name].double())
    for name, b in model.named_buffers():
        if name.endswith("num_batches_tracked"):
            continue
        if name.rsplit(".", 1)[0] in full_buffers:
            w.add(prefix + "buffer/" + name, b)
        w.add_summary(prefix + "buffer/" + name, b)


def main():
    torch.set_num_threads(2)
    w = Writer()
    # mini_resnet: 3 blocks of width 4, 8, 16 at 3x16x16, 10 classes (head 64 -> 4096 -> 10).
    sgd_case(w, "mini_resnet/", MiniResNet(3, 4, 3, 16, 10), (BATCH, 3, 16, 16), 10,
             {"conv1.0.weight", "conv1.1.weight", "head.3.weight", "head.3.bias"}, {"conv1.1"})
    sgd_case(w, "resnet18/", torchvision.models.resnet18(num_classes=10), (BATCH, 3, 64, 64), 10,
             {"conv1.weight", "bn1.weight", "layer4.1.bn2.weight", "fc.weight", "fc.bias"}, {"bn1"})
    w.write("sgd_steps.bin")


if __name__ == "__main__":
    sys.exit(main())
