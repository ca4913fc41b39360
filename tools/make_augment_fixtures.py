#!/usr/bin/python3
"""Writes tests/fixtures/augment/ops.bin: torchvision 0.14 tensor-path outputs of every augment op
with FIXED parameters on small deterministic u8 images, for tests/kernels/augment/ops_test.cpp.

Run: /usr/bin/python3 tools/make_augment_fixtures.py   (needs torch 1.13 + torchvision 0.14)

Format (little endian): b"FTAUGFX1", u32 count, then records:
  u16 len + name, u16 len + input name ("" for an input image), u8 n + f64 params[n],
  u8 dtype (0 u8 HWC, 1 f32 CHW), u32 h, w, c, data.
The C++ test dispatches on the name's prefix (before '/') and reads the params in the order below.
"""
import math
import os
import struct

import torch
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode
from torchvision.transforms.autoaugment import _apply_op

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "augment", "ops.bin")
records = []


def image(h, w, c, salt=0):
    """Deterministic textured u8 image, CHW tensor (torchvision layout)."""
    t = torch.empty((c, h, w), dtype=torch.uint8)
    for ch in range(c):
        for y in range(h):
            for x in range(w):
                t[ch, y, x] = (y * 37 + x * 11 + ch * 71 + ((y * x + salt) % 13) * 19 + salt * 7) % 256
    return t


def add(name, input_name, params, tensor):
    """Stores u8 CHW tensors as HWC, f32 tensors as CHW."""
    if tensor.dtype == torch.uint8:
        c, h, w = tensor.shape
        data = tensor.permute(1, 2, 0).contiguous().numpy().tobytes()
        dtype = 0
    else:
        c, h, w = tensor.shape
        data = tensor.to(torch.float32).contiguous().numpy().tobytes()
        dtype = 1
    records.append((name, input_name, [float(p) for p in params], dtype, (h, w, c), data))


inputs = {
    "rgb13x17": image(13, 17, 3),
    "gray13x17": image(13, 17, 1, salt=3),
    "rgb20x24": image(20, 24, 3, salt=5),
    "gray20x24": image(20, 24, 1, salt=9),
    "rgb1x1": image(1, 1, 3, salt=1),
    "gray1x1": image(1, 1, 1, salt=2),
    "rgb64x64": image(64, 64, 3, salt=4),
}
for k, v in inputs.items():
    add(k, "", [], v)

# resize: params [out_h, out_w, antialias, top, left, win_h, win_w] (window = F.resized_crop box)
for src in ["rgb13x17", "gray13x17", "rgb1x1", "rgb64x64"]:
    img = inputs[src]
    _, h, w = img.shape
    for (oh, ow) in [(7, 9), (29, 31), (5, 4), (3, 20)]:
        for aa in [True, False]:
            out = F.resize(img, [oh, ow], InterpolationMode.BILINEAR, antialias=aa)
            add(f"resize/{src}/{oh}x{ow}/aa{int(aa)}", src, [oh, ow, aa, 0, 0, h, w], out)
    for aa in [True, False]:
        out = F.resized_crop(img, 0, 0, min(h, 8), min(w, 10), [6, 6], InterpolationMode.BILINEAR, antialias=aa)
        add(f"resize/{src}/crop/aa{int(aa)}", src, [6, 6, aa, 0, 0, min(h, 8), min(w, 10)], out)
img = inputs["rgb64x64"]
for aa in [True, False]:
    out = F.resized_crop(img, 5, 9, 40, 30, [23, 17], InterpolationMode.BILINEAR, antialias=aa)
    add(f"resize/rgb64x64/crop2/aa{int(aa)}", "rgb64x64", [23, 17, aa, 5, 9, 40, 30], out)
# resize to the smaller edge (torchvision's int size): params [size]
for src in ["rgb13x17", "gray20x24"]:
    out = F.resize(inputs[src], 10, InterpolationMode.BILINEAR, antialias=True)
    add(f"resize_short/{src}/10", src, [10], out)

# center_crop: params [crop_h, crop_w]
for src in ["rgb13x17", "gray13x17", "gray1x1"]:
    for (ch, cw) in [(8, 8), (8, 9), (20, 22), (15, 10), (3, 3), (13, 17), (1, 1)]:
        add(f"center_crop/{src}/{ch}x{cw}", src, [ch, cw], F.center_crop(inputs[src], [ch, cw]))

# random_crop with a fixed box: params [pad_l, pad_t, pad_r, pad_b, mode, fill, i, j, crop_h, crop_w]
modes = {"constant": 0, "edge": 1, "reflect": 2, "symmetric": 3}
for src in ["rgb13x17", "gray13x17"]:
    for mode, code in modes.items():
        for (pad, fill, i, j, ch, cw) in [([2, 1, 3, 4], 7, 1, 5, 10, 12), ([4, 4, 4, 4], 0, 0, 0, 8, 8),
                                          ([4, 4, 4, 4], 200, 9, 13, 12, 12)]:
            padded = F.pad(inputs[src], pad, fill=fill, padding_mode=mode)
            out = F.crop(padded, i, j, ch, cw)
            add(f"random_crop/{src}/{mode}/{i}_{j}_{fill}", src, pad + [code, fill, i, j, ch, cw], out)

# hflip: no params
for src in ["rgb13x17", "gray13x17", "rgb1x1"]:
    add(f"hflip/{src}", src, [], F.hflip(inputs[src]))

# rotate as RandomRotation calls it (fill is a per-channel list): params [angle, nearest, fill]
for src in ["rgb13x17", "gray13x17", "rgb20x24", "rgb1x1"]:
    c = inputs[src].shape[0]
    for angle, nearest, fill in [(23.5, 0, 0), (-40.0, 0, 0), (90.0, 0, 0), (10.0, 0, 128), (-7.25, 0, 255),
                                 (33.0, 1, 0), (-60.0, 1, 50)]:
        interp = InterpolationMode.NEAREST if nearest else InterpolationMode.BILINEAR
        out = F.rotate(inputs[src], angle, interp, fill=[float(fill)] * c)
        add(f"rotate/{src}/{angle}/{nearest}/{fill}", src, [angle, nearest, fill], out)

# normalize (u8 -> f32 CHW): params [n, mean..., std...]
for src, mean, std in [("rgb13x17", [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]),
                       ("gray13x17", [0.286], [0.353]), ("rgb1x1", [0.5, 0.5, 0.5], [0.25, 0.5, 1.0])]:
    out = F.normalize(F.convert_image_dtype(inputs[src], torch.float32), mean, std)
    add(f"normalize/{src}", src, [len(mean)] + mean + std, out)
    # the same as bfloat16 (stored widened to f32, which is exact)
    add(f"normalize_bf16/{src}", src, [len(mean)] + mean + std, out.to(torch.bfloat16))

# trivial_augment_wide ops at fixed magnitudes, as TrivialAugmentWide calls them (NEAREST, fill None):
# params [op index (torchvision order), magnitude]
ta_ops = ["Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color",
          "Contrast", "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize"]
bins = 31
mags = {
    "Identity": [0.0], "ShearX": [0.33, -0.99], "ShearY": [0.561, -0.2], "TranslateX": [12.8, -32.0],
    "TranslateY": [5.3, -20.0], "Rotate": [40.5, -135.0], "Brightness": [0.66, -0.495],
    "Color": [0.99, -0.33], "Contrast": [0.5, -0.9], "Sharpness": [0.99, -0.99],
    "Posterize": [8, 5, 2], "Solarize": [255.0, 127.5, 0.0, 42.5], "AutoContrast": [0.0], "Equalize": [0.0],
}
for src in ["rgb20x24", "gray20x24", "rgb13x17", "rgb1x1"]:
    for k, name in enumerate(ta_ops):
        for m in mags[name]:
            m32 = float(torch.tensor(m, dtype=torch.float32).item())  # magnitudes are float32 values
            out = _apply_op(inputs[src].clone(), name, m32, interpolation=InterpolationMode.NEAREST, fill=None)
            add(f"ta/{src}/{name}/{m32}", src, [k, m32], out)
# A flat channel (autocontrast's infinite scale) and a two-level image (equalize's step).
flat = torch.full((3, 6, 7), 77, dtype=torch.uint8)
flat[0, 2, 3] = 90
add("flat6x7", "", [], flat)
for k in [12, 13]:
    add(f"ta/flat6x7/{ta_ops[k]}/0.0", "flat6x7", [k, 0.0], _apply_op(flat.clone(), ta_ops[k], 0.0,
                                                                      interpolation=InterpolationMode.NEAREST, fill=None))
# The magnitude tables themselves: params [op index, bin, value]
for k, name in enumerate(ta_ops):
    space = {
        "ShearX": torch.linspace(0.0, 0.99, bins), "ShearY": torch.linspace(0.0, 0.99, bins),
        "TranslateX": torch.linspace(0.0, 32.0, bins), "TranslateY": torch.linspace(0.0, 32.0, bins),
        "Rotate": torch.linspace(0.0, 135.0, bins), "Brightness": torch.linspace(0.0, 0.99, bins),
        "Color": torch.linspace(0.0, 0.99, bins), "Contrast": torch.linspace(0.0, 0.99, bins),
        "Sharpness": torch.linspace(0.0, 0.99, bins),
        "Posterize": 8 - (torch.arange(bins) / ((bins - 1) / 6)).round().int(),
        "Solarize": torch.linspace(255.0, 0.0, bins),
    }.get(name)
    if space is None:
        continue
    vals = torch.tensor([float(v) for v in space], dtype=torch.float64)
    add(f"ta_magnitudes/{name}", "", [k], vals.view(1, 1, bins).to(torch.float32))

# random_erasing with a fixed box on the normalized image: params [i, j, h, w, value]
norm = F.normalize(F.convert_image_dtype(inputs["rgb13x17"], torch.float32), [0.5] * 3, [0.25] * 3)
add("norm_rgb13x17", "", [], norm)
for (i, j, h, w, v) in [(2, 3, 5, 7, 0.0), (0, 0, 12, 16, 1.5), (12, 16, 1, 1, -2.0)]:
    add(f"erase/{i}_{j}_{h}_{w}", "norm_rgb13x17", [i, j, h, w, v], F.erase(norm.clone(), i, j, h, w, torch.tensor(v)))

os.makedirs(os.path.dirname(OUT), exist_ok=True)
with open(OUT, "wb") as f:
    f.write(b"FTAUGFX1")
    f.write(struct.pack("<I", len(records)))
    for name, input_name, params, dtype, (h, w, c), data in records:
        for s in (name, input_name):
            b = s.encode()
            f.write(struct.pack("<H", len(b)) + b)
        f.write(struct.pack("<B", len(params)) + struct.pack(f"<{len(params)}d", *params))
        f.write(struct.pack("<BIII", dtype, h, w, c))
        f.write(data)
print(f"wrote {len(records)} records, {os.path.getsize(OUT)} bytes to {os.path.normpath(OUT)}")
