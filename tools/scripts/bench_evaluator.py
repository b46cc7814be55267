#!/usr/bin/python3
"""Float evaluator benchmark: `ann2snn accuracy` (OpenBLAS) against PyTorch on the same ONNX
model, samples/s at batch 1 and batched, on one thread and on every core, measured side by side
in one run (the repeats interleave the two).

  /usr/bin/python3 tools/scripts/bench_evaluator.py [--build DIR] [--models a,b] [--repeats 3]
                                                    [--samples N] [--cifar-samples N] [--batch 32]
                                                    [--reference]

Models: the five bundled ones (their first N test images), and a CIFAR-shaped VGG-11 and
ResNet-18 with random weights (tools/scripts/make_cifar_models.py, made into a temporary
directory unless --cifar-dir holds them). PyTorch runs the ONNX file's own graph with its own
operators (tools/scripts/onnx_torch.py), under torch.no_grad() and torch.set_num_threads(N);
ann2snn runs `accuracy --threads N --batch B` and its own "evaluate" time is taken (load and
parse excluded on both sides; ann2snn's evaluator set-up, such as packing the convolution
weights, is included, PyTorch's warm-up is not). Both get the same float32 samples from one
.npy file. Each PyTorch measurement runs in its own process with OPENBLAS_NUM_THREADS and
OMP_NUM_THREADS set to N: PyTorch runs Gemm, and its unbatched convolutions, in OpenBLAS, whose
thread count torch.set_num_threads() does not set, so its "one thread" would use every core.
--reference adds a row per model for the plain C kernels (batch 1, one thread): the evaluator
before BLAS. Prints medians and ratios (ann2snn / PyTorch; above 1: ann2snn is faster).
"""
import argparse
import gzip
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_torch import OnnxTorch  # noqa: E402
from paths import BUILD, ROOT, tool  # noqa: E402

FMNIST = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
MNIST = os.path.join(ROOT, "models", "data", "mnist-digits-test-images-idx3-ubyte.gz")
BUNDLED = ["fmnist_mlp", "fmnist_cnn_avg", "fmnist_cnn_maxbn", "fmnist_resnet", "mnist_lenet"]
CIFAR = ["vgg11", "resnet18"]


def idx_images(path, n):
    with gzip.open(path) as f:
        data = f.read()
    return (np.frombuffer(data, np.uint8, offset=16).reshape(-1, 1, 28, 28)[:n] / 255.0).astype(np.float32)


def torch_rate_here(onnx, data, batch, threads):
    torch.set_num_threads(threads)
    model = OnnxTorch(onnx)
    xt = torch.from_numpy(np.load(data))
    with torch.no_grad():
        for i in range(0, min(len(xt), 4 * batch), batch):  # warm-up
            model(xt[i:i + batch])
        t0 = time.perf_counter()
        for i in range(0, len(xt), batch):
            model(xt[i:i + batch])
        return len(xt) / (time.perf_counter() - t0)


def torch_rate(onnx, data, batch, threads):
    """torch_rate_here() in a child process whose BLAS and OpenMP pools have `threads` threads."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    out = subprocess.run(["/usr/bin/python3", os.path.abspath(__file__), "--torch-rate", onnx, data,
                          str(batch), str(threads)], check=True, capture_output=True, text=True,
                         env=env).stdout
    return float(out.split()[-1])


def ann2snn_rate(exe, onnx, data, labels, batch, threads, reference=False):
    cmd = [exe, "accuracy", onnx, "--data", data, "--labels", labels, "--scale", "1", "--mean", "0",
           "--std", "1", "--threads", str(threads), "--batch", str(batch)]
    if reference:
        cmd.append("--reference-kernels")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    m = re.search(r"evaluate ([0-9.]+) s", out)
    acc = re.search(r"accuracy +([0-9.]+) %", out).group(1)
    n = int(re.search(r"samples +(\d+)", out).group(1))
    return n / float(m.group(1)), acc


def main():
    if len(sys.argv) == 6 and sys.argv[1] == "--torch-rate":  # the child of torch_rate()
        onnx, data, batch, threads = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        print(torch_rate_here(onnx, data, batch, threads))
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=BUILD)
    ap.add_argument("--models", default=",".join(BUNDLED + CIFAR))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--samples", type=int, default=2000, help="per bundled model")
    ap.add_argument("--cifar-samples", type=int, default=1000,
                    help="per CIFAR model; with 200, set-up was about 5 %% of ann2snn's time")
    ap.add_argument("--cifar-dir", help="holds vgg11.onnx, resnet18.onnx, cifar_x.npy (else made)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--reference", action="store_true", help="also time the plain C kernels")
    a = ap.parse_args()
    exe = tool(a.build, "ann2snn")
    cores = os.cpu_count() or 1
    tmp = tempfile.TemporaryDirectory()
    cifar = a.cifar_dir
    models = a.models.split(",")
    if any(m in CIFAR for m in models) and not cifar:
        cifar = tmp.name
        subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tools", "scripts", "make_cifar_models.py"),
                        cifar, "--samples", str(a.cifar_samples)], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    print(f"machine: {os.uname().machine}, {cores} cores; torch {torch.__version__}; "
          f"samples/s, median of {a.repeats}; ratio = ann2snn / PyTorch")
    print(f"{'model':18} {'batch':>5} {'thr':>3} {'PyTorch':>10} {'ann2snn':>10} {'ratio':>7}")
    for name in models:
        if name in CIFAR:
            onnx = os.path.join(cifar, name + ".onnx")
            x = np.load(os.path.join(cifar, "cifar_x.npy"))[:a.cifar_samples]
        else:
            onnx = os.path.join(ROOT, "models", name + ".onnx")
            # The MLP runs 2,000 samples batched in about 25 ms, near the millisecond resolution
            # of accuracy's timer, and its whole test set in about 0.1 s, where one noisy
            # moment moves a median: it gets the test set five times over (50,000 samples).
            x = idx_images(MNIST if name.startswith("mnist") else FMNIST,
                           max(a.samples, 10000) if name == "fmnist_mlp" else a.samples)
            if name == "fmnist_mlp":
                x = np.concatenate([x] * 5)
        data, labels = os.path.join(tmp.name, "x.npy"), os.path.join(tmp.name, "y.npy")
        np.save(data, np.ascontiguousarray(x, np.float32))
        model = OnnxTorch(onnx)  # its predictions are the labels
        with torch.no_grad():
            y = torch.cat([model(torch.from_numpy(x[i:i + 100])) for i in range(0, len(x), 100)]).argmax(1)
        np.save(labels, y.numpy().astype(np.int64))  # accuracy = agreement with PyTorch
        for batch, threads in ((1, 1), (a.batch, 1), (1, cores), (a.batch, cores)):
            pt, us, agree = [], [], set()
            for _ in range(a.repeats):
                pt.append(torch_rate(onnx, data, batch, threads))
                r, acc = ann2snn_rate(exe, onnx, data, labels, batch, threads)
                us.append(r)
                agree.add(acc)
            p, u = statistics.median(pt), statistics.median(us)
            print(f"{name:18} {batch:5} {threads:3} {p:10.1f} {u:10.1f} {u / p:7.2f}   "
                  f"agreement with PyTorch {'/'.join(sorted(agree))} %", flush=True)
        if a.reference:
            r, _ = ann2snn_rate(exe, onnx, data, labels, 1, 1, reference=True)
            print(f"{name + ' (ref.)':18} {1:5} {1:3} {'':>10} {r:10.1f}", flush=True)


if __name__ == "__main__":
    main()
