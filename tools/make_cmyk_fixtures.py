#!/usr/bin/python3
"""Writes PIL's RGB for the CMYK and YCCK JPEGs that tests/kernels/io/jpeg_cmyk_test.cpp makes.

Run with Debian's python3-pil:  /usr/bin/python3 tools/make_cmyk_fixtures.py
Output: tests/fixtures/data/pil_cmyk.txt (text, no binary blob in the tree).

torchvision reads images with PIL's Image.open(f).convert("RGB"); flowtrain must give the same
pixels for four-component JPEGs. The JPEGs are made here exactly as the test makes them, through
libjpeg-turbo's TurboJPEG API (ctypes), so both sides decode the same bytes:
  ycck           tjCompress2 of a 16x16 CMYK pattern (TJPF_CMYK: TurboJPEG writes YCCK, 4:2:0)
  cmyk           the same file with its Adobe marker's transform byte set to 0: plain CMYK
  cmyk_no_adobe  the same file without the Adobe marker (libjpeg then assumes CMYK; PIL still
                 applies Adobe's inverted polarity)
Each case records the JPEG's size and FNV-1a 64 hash (the test says so when its libjpeg-turbo
made other bytes) and PIL's RGB bytes, row-major HWC.
"""
import ctypes
import io
import os

from PIL import Image, __version__ as PIL_VERSION

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "data", "pil_cmyk.txt")
H, W = 16, 16
TJPF_CMYK, TJSAMP_420, TJFLAG_ACCURATEDCT = 11, 2, 4096
QUALITY = 90


def pattern():
    # The test's cmyk_pattern(): smooth ramps plus a hard edge, every channel covering 0..255.
    px = bytearray()
    for y in range(H):
        for x in range(W):
            px += bytes([(x * 16 + y * 3) % 256, (y * 16 + x * 5) % 256, ((x + y) * 8) % 256,
                         255 if x < 8 else (x * y * 4 + 30) % 256])
    return bytes(px)


def compress_cmyk(px):
    tj = ctypes.CDLL("libturbojpeg.so.0")
    tj.tjInitCompress.restype = ctypes.c_void_p
    handle = ctypes.c_void_p(tj.tjInitCompress())
    buf = ctypes.POINTER(ctypes.c_ubyte)()
    size = ctypes.c_ulong(0)
    rc = tj.tjCompress2(handle, ctypes.c_char_p(px), W, W * 4, H, TJPF_CMYK, ctypes.byref(buf),
                        ctypes.byref(size), TJSAMP_420, QUALITY, TJFLAG_ACCURATEDCT)
    assert rc == 0, "tjCompress2 failed"
    out = bytes(buf[: size.value])
    tj.tjFree(buf)
    tj.tjDestroy(handle)
    return out


def adobe_marker(jpg):
    i = jpg.find(b"\xff\xee")
    assert i > 0 and jpg[i + 4 : i + 9] == b"Adobe", "no Adobe APP14 marker"
    return i


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    ycck = compress_cmyk(pattern())
    at = adobe_marker(ycck)
    assert ycck[at + 15] == 2, "TurboJPEG did not write YCCK"
    cmyk = ycck[: at + 15] + b"\x00" + ycck[at + 16 :]
    seg_len = (ycck[at + 2] << 8) | ycck[at + 3]
    no_adobe = ycck[:at] + ycck[at + 2 + seg_len :]
    with open(OUT, "w") as f:
        f.write("# PIL %s: tools/make_cmyk_fixtures.py\n" % PIL_VERSION)
        for name, jpg in (("ycck", ycck), ("cmyk", cmyk), ("cmyk_no_adobe", no_adobe)):
            im = Image.open(io.BytesIO(jpg))
            assert im.mode == "CMYK", name
            rgb = im.convert("RGB").tobytes()
            assert len(rgb) == H * W * 3
            f.write("case %s %d %d %d %016x\n" % (name, H, W, len(jpg), fnv1a64(jpg)))
            for y in range(H):
                f.write(" ".join(str(v) for v in rgb[y * W * 3 : (y + 1) * W * 3]) + "\n")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
