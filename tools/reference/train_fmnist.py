#!/usr/bin/python3
"""PyTorch reference for flowtrain's default job: resnet_small on Fashion-MNIST (CPU).

The PyTorch side of the side-by-side benchmark (see docs/RECIPE_FMNIST.md for the recipe and
the trials behind it). Prints per-epoch test top-1, elapsed wall time and the wall time at which
test top-1 first reached --target (default 92%).

Data sources:
  --data DIR   the JPEG tree flowtrain's importer writes: DIR/train/NNNNN.jpg, DIR/test/NNNNN.jpg,
               DIR/train.csv, DIR/test.csv (header `Id,Label`). Read through a DataLoader
               (PIL decode + torchvision transforms per sample), as a user would.
  --idx DIR    the gzipped IDX files (e.g. /usr/share/datasets/fashion-mnist); images are
               JPEG-roundtripped in memory (grayscale, --jpeg-quality, default 95) so they match
               what flowtrain trains on, then augmented per batch on tensors (fast; for trials).
Run with /usr/bin/python3 (PyTorch 1.13, torchvision 0.14).
"""
import argparse
import csv
import gzip
import io
import math
import os
import struct
import sys
import time
import warnings

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.resnet import BasicBlock

MEAN, STD = 0.286, 0.353  # Fashion-MNIST train-set pixel mean/std in [0,1]


# ----------------------------------------------------------------------------- model
class ResNetSmall(nn.Module):
    """flowtrain's `resnet_small`: conv3x3(1->w0,s1,p1,no bias)-BN-ReLU stem, stages of
    torchvision BasicBlocks (first block of stage i>0: stride 2 + 1x1 conv/BN downsample;
    --first-stride 2 also strides stage 0), global average pool, Linear(->classes)."""

    def __init__(self, widths, blocks, num_classes=10, in_ch=1, first_stride=1):
        super().__init__()
        w0 = widths[0]
        self.stem = nn.Sequential(nn.Conv2d(in_ch, w0, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(w0), nn.ReLU(inplace=True))
        layers, cin = [], w0
        for i, (w, n) in enumerate(zip(widths, blocks)):
            for j in range(n):
                stride = (first_stride if i == 0 else 2) if j == 0 else 1
                down = None
                if stride != 1 or cin != w:
                    down = nn.Sequential(nn.Conv2d(cin, w, 1, stride, bias=False), nn.BatchNorm2d(w))
                layers.append(BasicBlock(cin, w, stride, down))
                cin = w
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(cin, num_classes)
        # torchvision ResNet init: kaiming-normal(fan_out, relu) convs, BN gamma 1 beta 0;
        # Linear keeps PyTorch's default init.
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def count_macs(model, hw=28):
    """Forward multiply-accumulates per image (conv + linear; BN/ReLU/add ignored)."""
    macs = [0]

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            macs[0] += out.numel() // out.shape[0] * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, nn.Linear):
            macs[0] += m.in_features * m.out_features

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 1, hw, hw))
    model.train(was)
    for h in hs:
        h.remove()
    return macs[0]


# ----------------------------------------------------------------------------- data
def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">I", data[:4])[0]
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def jpeg_roundtrip(images, quality):
    from PIL import Image
    out = np.empty_like(images)
    for i, im in enumerate(images):
        buf = io.BytesIO()
        Image.fromarray(im, mode="L").save(buf, format="JPEG", quality=quality)
        buf.seek(0)
        out[i] = np.asarray(Image.open(buf).convert("L"))
    return out


def load_idx(d, quality, cache):
    if cache and os.path.exists(cache):
        z = np.load(cache)
        return z["xtr"], z["ytr"], z["xte"], z["yte"]
    xtr = read_idx(os.path.join(d, "train-images-idx3-ubyte.gz"))
    ytr = read_idx(os.path.join(d, "train-labels-idx1-ubyte.gz"))
    xte = read_idx(os.path.join(d, "t10k-images-idx3-ubyte.gz"))
    yte = read_idx(os.path.join(d, "t10k-labels-idx1-ubyte.gz"))
    if quality > 0:
        xtr, xte = jpeg_roundtrip(xtr, quality), jpeg_roundtrip(xte, quality)
    if cache:
        np.savez(cache, xtr=xtr, ytr=ytr, xte=xte, yte=yte)
    return xtr, ytr, xte, yte


def batch_augment(x, pad, flip, gen):
    """x: uint8-derived float batch [N,1,H,W] in [0,1] (before normalize). Same distribution as
    torchvision RandomCrop(H, padding=pad, fill=0) + RandomHorizontalFlip(0.5) per sample."""
    n, c, h, w = x.shape
    if pad > 0:
        xp = F.pad(x, (pad, pad, pad, pad))
        oy = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
        ox = torch.randint(0, 2 * pad + 1, (n,), generator=gen)
        iy = (oy[:, None] + torch.arange(h)[None, :])  # [N,H]
        ix = (ox[:, None] + torch.arange(w)[None, :])  # [N,W]
        idx = (iy[:, :, None] * (w + 2 * pad) + ix[:, None, :]).reshape(n, 1, h * w)
        x = torch.gather(xp.reshape(n, c, -1), 2, idx.expand(n, c, h * w)).reshape(n, c, h, w)
    if flip:
        m = torch.rand(n, generator=gen) < 0.5
        x = torch.where(m[:, None, None, None], x.flip(3), x)
    return x


class JpegDirDataset(torch.utils.data.Dataset):
    def __init__(self, root, split, transform):
        self.dir = os.path.join(root, split)
        with open(os.path.join(root, split + ".csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        self.items = [(r["Id"], int(r["Label"])) for r in rows]
        self.transform = transform

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        from PIL import Image
        name, label = self.items[i]
        p = os.path.join(self.dir, name if name.endswith(".jpg") else name + ".jpg")
        with Image.open(p) as im:
            img = im.convert("L")
        return self.transform(img), label


# ----------------------------------------------------------------------------- training
def autocast(mode):
    """bf16: the CPU autocast region a current-PyTorch user would train in; f32: no-op."""
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=(mode == "bf16"))


def to_mode(x, mode):
    return x.contiguous(memory_format=torch.channels_last) if mode == "bf16" else x


def param_groups(model, wd, no_decay):
    decay, nodecay = [], []
    for mod in model.modules():
        for name, p in mod.named_parameters(recurse=False):
            if no_decay and (name == "bias" or isinstance(mod, nn.BatchNorm2d)):
                nodecay.append(p)
            else:
                decay.append(p)
    return [{"params": decay, "weight_decay": wd}, {"params": nodecay, "weight_decay": 0.0}]


def make_schedule(opt, args, steps_per_epoch):
    total = args.epochs * steps_per_epoch
    if args.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=args.lr, total_steps=total, pct_start=args.pct_start,
            div_factor=args.div_factor, final_div_factor=args.final_div_factor,
            cycle_momentum=False, anneal_strategy="cos")
    # linear warmup (per iteration) from lr*start_factor to lr, then cosine to eta_min.
    warm = int(round(args.warmup_epochs * steps_per_epoch))
    cos = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, total - warm), eta_min=args.eta_min)
    if warm == 0:
        return cos
    lin = torch.optim.lr_scheduler.LinearLR(opt, start_factor=args.warmup_start, end_factor=1.0,
                                            total_iters=warm)
    return torch.optim.lr_scheduler.SequentialLR(opt, [lin, cos], milestones=[warm])


def evaluate(model, loader, mode):
    model.eval()
    correct = total = 0
    with torch.no_grad(), autocast(mode):
        for x, y in loader:
            correct += (model(to_mode(x, mode)).argmax(1) == y).sum().item()
            total += y.numel()
    model.train()
    return 100.0 * correct / total


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="JPEG tree written by flowtrain's importer")
    src.add_argument("--idx", help="folder with the gzipped IDX files")
    ap.add_argument("--jpeg-quality", type=int, default=95, help="--idx only; 0 = no JPEG roundtrip")
    ap.add_argument("--cache", default="", help="--idx only: .npz cache of the roundtripped arrays")
    ap.add_argument("--workers", type=int, default=1, help="--data only: DataLoader workers")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--widths", default="16,32,64")
    ap.add_argument("--blocks", default="1,1,1")
    ap.add_argument("--first-stride", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--eval-batch", type=int, default=1000)
    ap.add_argument("--lr", type=float, default=0.2, help="peak learning rate")
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--nesterov", type=int, default=1)
    ap.add_argument("--wd", type=float, default=5e-4)
    ap.add_argument("--no-decay", type=int, default=1, help="no weight decay on biases and BN")
    ap.add_argument("--label-smoothing", type=float, default=0.1)
    ap.add_argument("--schedule", choices=["warmup_cosine", "onecycle"], default="warmup_cosine")
    ap.add_argument("--warmup-epochs", type=float, default=1.0)
    ap.add_argument("--warmup-start", type=float, default=0.1, help="LinearLR start_factor")
    ap.add_argument("--eta-min", type=float, default=0.0)
    ap.add_argument("--pct-start", type=float, default=0.25)
    ap.add_argument("--div-factor", type=float, default=10.0)
    ap.add_argument("--final-div-factor", type=float, default=100.0)
    ap.add_argument("--pad", type=int, default=2, help="random_crop padding (0 = off)")
    ap.add_argument("--hflip", type=int, default=1)
    ap.add_argument("--target", type=float, default=92.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mode", choices=["f32", "bf16"], default="f32",
                    help="bf16: channels_last + torch.autocast(cpu, bfloat16), PyTorch's fast CPU mode")
    args = ap.parse_args()

    # SequentialLR in 1.13 steps its second scheduler with an explicit epoch: harmless warning.
    warnings.filterwarnings("ignore", message="The epoch parameter")
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    widths = [int(v) for v in args.widths.split(",")]
    blocks = [int(v) for v in args.blocks.split(",")]
    model = ResNetSmall(widths, blocks, first_stride=args.first_stride)
    if args.mode == "bf16":
        model = model.to(memory_format=torch.channels_last)
    macs = count_macs(model)
    nparams = sum(p.numel() for p in model.parameters())
    print(f"model widths={widths} blocks={blocks} first_stride={args.first_stride} "
          f"params={nparams} fwd_MMAC/img={macs / 1e6:.2f} "
          f"train_GFLOP/epoch(60k, 6*MAC)={6 * macs * 60000 / 1e9:.0f}", flush=True)
    print("args:", vars(args), flush=True)

    t_load = time.time()
    if args.idx:
        xtr, ytr, xte, yte = load_idx(args.idx, args.jpeg_quality, args.cache)
        xtr = torch.from_numpy(xtr.copy()).float().div_(255).unsqueeze(1)
        ytr = torch.from_numpy(ytr.astype(np.int64))
        xte_n = (torch.from_numpy(xte.copy()).float().div_(255).unsqueeze(1) - MEAN) / STD
        test_loader = list(zip(xte_n.split(args.eval_batch), torch.from_numpy(yte.astype(np.int64)).split(args.eval_batch)))
        n_train = xtr.shape[0]
        steps = n_train // args.batch  # drop_last

        def train_batches():
            perm = torch.randperm(n_train, generator=gen)
            for s in range(steps):
                ix = perm[s * args.batch:(s + 1) * args.batch]
                x = batch_augment(xtr[ix], args.pad, args.hflip, gen)
                yield (x - MEAN) / STD, ytr[ix]
    else:
        import torchvision.transforms as T
        aug = []
        if args.pad > 0:
            aug.append(T.RandomCrop(28, padding=args.pad))
        if args.hflip:
            aug.append(T.RandomHorizontalFlip(0.5))
        tail = [T.ToTensor(), T.Normalize([MEAN], [STD])]
        train_ds = JpegDirDataset(args.data, "train", T.Compose(aug + tail))
        test_ds = JpegDirDataset(args.data, "test", T.Compose(tail))
        kw = dict(num_workers=args.workers, persistent_workers=args.workers > 0)
        train_dl = torch.utils.data.DataLoader(train_ds, batch_size=args.batch, shuffle=True,
                                               drop_last=True, generator=gen, **kw)
        test_loader = torch.utils.data.DataLoader(test_ds, batch_size=args.eval_batch, **kw)
        steps = len(train_dl)

        def train_batches():
            return iter(train_dl)
    print(f"data ready in {time.time() - t_load:.1f}s; {steps} steps/epoch", flush=True)

    opt = torch.optim.SGD(param_groups(model, args.wd, args.no_decay), lr=args.lr,
                          momentum=args.momentum, nesterov=bool(args.nesterov))
    sched = make_schedule(opt, args, steps)
    crit = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)

    t0 = time.time()
    hit = None
    best = 0.0
    for ep in range(1, args.epochs + 1):
        te = time.time()
        ce = time.process_time()
        loss_sum, correct, seen = 0.0, 0, 0
        for x, y in train_batches():
            with autocast(args.mode):
                out = model(to_mode(x, args.mode))
                loss = crit(out, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * y.numel()
            correct += (out.argmax(1) == y).sum().item()
            seen += y.numel()
        t_train = time.time() - te
        cpu_train = time.process_time() - ce
        acc = evaluate(model, test_loader, args.mode)
        best = max(best, acc)
        el = time.time() - t0
        if hit is None and acc >= args.target:
            hit = el
        print(f"epoch {ep:2d} train_loss {loss_sum / seen:.4f} train_top1 {100.0 * correct / seen:.2f} "
              f"test_top1 {acc:.2f} epoch_train_s {t_train:.1f} epoch_train_cpu_s {cpu_train:.1f} eval_s {time.time() - te - t_train:.1f} "
              f"elapsed_s {el:.1f} lr {opt.param_groups[0]['lr']:.5f}", flush=True)
    print(f"FINAL test_top1 {acc:.2f} best {best:.2f} total_s {time.time() - t0:.1f} "
          f"time_to_{args.target:g}% {'%.1f s' % hit if hit is not None else 'never'}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
