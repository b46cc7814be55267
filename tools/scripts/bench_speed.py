#!/usr/bin/python3
"""Speed benchmark: snn-run against the same SNN simulated clock-driven in PyTorch, and
against the ANN forward pass in PyTorch. One process, one core, one image at a time.

  /usr/bin/python3 tools/scripts/bench_speed.py [--snn FILE.snn] [--steps 64] [--images N] [--repeats 3]
                                                [--precisions int16,int8]

The PyTorch SNN is built from the .snn file itself by an independent reader (tools/scripts/snn_file.py),
so it runs exactly the converted network: every step it recomputes every layer with dense torch
ops (as a clock-driven simulator does). The ANN pass runs the same layers with ReLU instead of
neurons. Prints a table of images/s (median of the repeats) and the ratios, and the agreement
between snn-run's and PyTorch's SNN predictions.

One more row bounds what the step loop could reach: build/tools/scatter-floor/scatter-floor records the spikes of a
run and replays only their accumulation (the additions of weights into currents, with the
runtime's own code), as if integrate-and-fire, spike lists and pooling cost nothing; and the
same additions on 16-bit integers.

With the default model, the same conversion is also written as int16 and int8 files
(`--precision`) and as a float32 file with their neuron (`--burst 1 --norm channel=99.9`, as
integer files are converted), and snn-run's integer step loop is timed on them in the same run,
interleaved with that float32 file's repeats, so that the ratios compare like with like.

  /usr/bin/python3 tools/scripts/bench_speed.py --at-ann-accuracy [--models a,b] [--max-steps 32] [--work DIR]

Speed at ANN accuracy, one row per bundled model: convert with the default options, find on the
full test set (`ann2snn eval --onnx`) the smallest T whose accuracy is within 0.1 pp of the
ANN's, and time snn-run at that T against PyTorch running the ANN itself (the ONNX graph,
tools/scripts/onnx_torch.py), batch 1, one thread, the two taking turns repeat by repeat.
"""
import argparse
import gzip
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import snn_file  # noqa: E402

from paths import ROOT, tool  # noqa: E402
FMNIST = "/usr/share/datasets/fashion-mnist"


def load_images(n):
    with gzip.open(os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz")) as f:
        data = f.read()
    return np.frombuffer(data, np.uint8, offset=16).reshape(-1, 1, 28, 28)[:n]


class TorchSNN:
    """Clock-driven simulation of a parsed .snn model with torch ops (NCHW tensors)."""

    def __init__(self, m):
        self.m = m
        self.ops = []
        for L in m.layers:
            if L.kind == snn_file.LAYER_NEURON:
                projs = [self._proj(p, L) for p in m.proj[L.proj_first:L.proj_first + L.proj_count]]
                bias = torch.tensor(L.bias).view(1, L.c, 1, 1)
                th = torch.tensor(L.threshold).view(1, L.c, 1, 1)
                self.ops.append(("neuron", L, projs, bias, th))
            elif L.kind == snn_file.LAYER_MAXPOOL:
                self.ops.append(("maxpool", L))
            else:
                srcs = [p.source for p in m.proj[L.proj_first:L.proj_first + L.proj_count]]
                self.ops.append(("concat", L, srcs))

    def _shape(self, b):
        m = self.m
        if b == 0:
            return m.input_c, m.input_h, m.input_w
        L = m.layers[b - 1]
        return L.c, L.h, L.w

    def _proj(self, p, L):
        w = torch.tensor(p.w)
        c, h, wd = p.src_c, p.src_h, p.src_w
        if p.kind == snn_file.PROJ_DENSE:
            # rows are channel-last source neurons: reorder to channel-first flatten
            n_out = L.c * L.h * L.w
            W = w.view(h, wd, c, n_out).permute(2, 0, 1, 3).reshape(c * h * wd, n_out)
            return lambda x: (x.reshape(1, -1) @ W).view(1, L.c, L.h, L.w)
        if p.kind == snn_file.PROJ_CONV:
            mg = L.c // p.group
            # (C_src, KH, KW, Mg) -> (M, C_src/group, KH, KW)
            wt = w.view(p.group, c // p.group, p.kh, p.kw, mg).permute(0, 4, 1, 2, 3)
            wt = wt.reshape(L.c, c // p.group, p.kh, p.kw).contiguous()
            pads = (p.pl, p.pr, p.pt, p.pb)

            def conv(x, wt=wt, pads=pads, p=p):
                return F.conv2d(F.pad(x, pads), wt, stride=(p.sh, p.sw), dilation=(p.dh, p.dw), groups=p.group)
            return conv
        if p.kind == snn_file.PROJ_AVGPOOL:
            wc = w.view(1, -1, 1, 1) * (p.kh * p.kw)
            pads = (p.pl, p.pr, p.pt, p.pb)
            return lambda x: F.avg_pool2d(F.pad(x, pads), (p.kh, p.kw), (p.sh, p.sw)) * wc
        if p.kind == snn_file.PROJ_GLOBALAVG:
            return lambda x: x.sum((2, 3), keepdim=True) * w.view(1, -1, 1, 1)
        return lambda x: x * w.view(1, -1, 1, 1)  # IDENTITY

    def run(self, x, steps, ann=False):
        """x: (1, C, H, W) preprocessed. Returns the output membrane (or ANN logits)."""
        m = self.m
        bufs = [x]
        if ann:
            for op in self.ops:
                if op[0] == "neuron":
                    _, L, projs, bias, th = op
                    z = sum(f(bufs[p.source]) for f, p in zip(projs, m.proj[L.proj_first:L.proj_first + L.proj_count])) + bias
                    bufs.append(z if L.flags & 1 else torch.relu(z) * th)
                elif op[0] == "maxpool":
                    L = op[1]
                    bufs.append(F.max_pool2d(F.pad(bufs[L.source], (L.pl, L.pr, L.pt, L.pb)), (L.kh, L.kw), (L.sh, L.sw)))
                else:
                    bufs.append(torch.cat([bufs[s] for s in op[2]], 1))
            return bufs[-1].flatten()
        state = []
        for op in self.ops:
            L = op[1]
            v = torch.full((1, L.c, L.h, L.w), 0.0)
            if op[0] == "neuron" and not L.flags & 1:
                v = m.v_init * op[4].expand(1, L.c, L.h, L.w).clone()
            if op[0] == "neuron" and L.v0 is not None:  # 1.6: each neuron's own start (VINI)
                v = torch.from_numpy(L.v0).view(1, L.c, L.h, L.w).clone()
            state.append({"v": v, "count": torch.zeros(1, L.c, L.h, L.w)})
        for _ in range(steps):
            spikes = [x]
            for i, op in enumerate(self.ops):
                st = state[i]
                if op[0] == "neuron":
                    _, L, projs, bias, th = op
                    I = bias.clone()
                    for f, p in zip(projs, m.proj[L.proj_first:L.proj_first + L.proj_count]):
                        I = I + f(spikes[p.source])
                    st["v"] = st["v"] + I
                    if L.flags & 1:
                        spikes.append(None)
                        continue
                    # the plain rule, applied up to `burst` times in a step (burst spikes)
                    s = torch.zeros_like(st["v"])
                    for _ in range(m.burst):
                        d = (st["v"] >= th).float()
                        if m.signed:  # a -1 spike takes back a spike when the membrane falls below 0
                            d = d - ((st["v"] < 0) & (st["count"] + s > 0)).float()
                        st["v"] = st["v"] - d * th if m.reset == 0 else st["v"] * (1 - d)
                        s = s + d
                    st["count"] = st["count"] + s
                    spikes.append(s)
                elif op[0] == "maxpool":
                    # the output's count follows the largest input count in its window
                    L = op[1]
                    src = state[L.source - 1]["count"]
                    pads = (L.pl, L.pr, L.pt, L.pb)
                    top = F.max_pool2d(F.pad(src, pads, value=-float("inf")), (L.kh, L.kw), (L.sh, L.sw))
                    s = torch.clamp(top - st["count"], -m.burst, m.burst)
                    st["count"] = st["count"] + s
                    spikes.append(s)
                else:
                    s = torch.cat([spikes[s] for s in op[2]], 1)
                    st["count"] = st["count"] + s
                    spikes.append(s)
        return state[-1]["v"].flatten()


def median_rate(fn, n, repeats):
    rates = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        rates.append(n / (time.perf_counter() - t0))
    return statistics.median(rates)


BUNDLED = ["fmnist_mlp", "fmnist_cnn_avg", "fmnist_cnn_maxbn", "fmnist_resnet", "mnist_lenet"]


def test_set(model):
    if model.startswith("mnist"):
        d = os.path.join(ROOT, "models", "data")
        return (os.path.join(d, "mnist-digits-test-images-idx3-ubyte.gz"),
                os.path.join(d, "mnist-digits-test-labels-idx1-ubyte.gz"),
                os.path.join(d, "mnist-digits-calib-images-idx3-ubyte.gz"))
    return (os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz"), os.path.join(FMNIST, "t10k-labels-idx1-ubyte.gz"),
            os.path.join(FMNIST, "train-images-idx3-ubyte.gz"))


def at_ann_accuracy(args):
    """Images/s of the default conversion at its cheapest T within 0.1 pp of the ANN."""
    from onnx_torch import OnnxTorch
    import json
    print(f"speed at ANN accuracy: batch 1, one thread, median of {args.repeats}; snn-run's T is the smallest "
          f"within 0.1 pp of the ANN on the full test set (up to T={args.max_steps})")
    print("snn-run runs the step loops' AVX2 copy where the CPU has AVX2; 'baseline/s' is the same run with "
          "SNN_SIMD=baseline (the SSE2 copy); each ratio is the median of the repeats' ratios")
    print(f"{'model':18s} {'ANN':>7s} {'T':>4s} {'SNN acc':>8s} {'snn-run/s':>10s} {'PyTorch ANN/s':>14s} {'ratio':>7s}"
          f" {'baseline/s':>11s} {'ratio':>7s}")
    for model in args.models.split(","):
        onnx = os.path.join(ROOT, "models", model + ".onnx")
        images, labels, calib = test_set(model)
        work = args.work or "/tmp"
        snn, res = os.path.join(work, model + ".snn"), os.path.join(work, model + ".json")
        if not (args.work and os.path.exists(snn) and os.path.exists(res)):  # reuse a --work DIR's run
            subprocess.run([tool(args.build, "ann2snn"), onnx, "--calib", calib, "-o", snn], check=True,
                           stdout=subprocess.DEVNULL)
            subprocess.run([tool(args.build, "ann2snn"), "eval", snn, "--data", images, "--labels", labels,
                            "--onnx", onnx, "--steps", str(args.max_steps), "--json", res], check=True,
                           stdout=subprocess.DEVNULL)
        with open(res) as f:
            ev = json.load(f)
        ann = ev["ann_accuracy"]
        ok = [p for p in ev["curve"] if p["accuracy"] >= ann - 0.001 - 1e-12]
        if not ok:
            print(f"{model:18s} {100 * ann:7.2f}    - no T up to {args.max_steps} is within 0.1 pp")
            continue
        best = min(ok, key=lambda p: p["steps"])
        T = best["steps"]
        with gzip.open(images) as f:
            raw = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 1, 28, 28)[:args.c_images]
        x = torch.from_numpy((raw / 255.0).astype(np.float32))
        net = OnnxTorch(onnx)

        def c_rate(simd=None):
            env = dict(os.environ)
            env.pop("SNN_SIMD", None)
            if simd:  # the runtime's baseline copy of its step loops (runtime/snn_internal.h)
                env["SNN_SIMD"] = simd

            def run(n):
                t0 = time.perf_counter()
                subprocess.run([tool(args.build, "snn-run"), snn, "--input", images, "--steps", str(T), "--threads",
                                "1", "--limit", str(n)], check=True, stdout=subprocess.DEVNULL, env=env)
                return time.perf_counter() - t0
            return (args.c_images - 1) / (run(args.c_images) - run(1))

        def torch_rate():
            with torch.no_grad():
                for i in range(8):
                    net(x[i:i + 1])
                t0 = time.perf_counter()
                for i in range(len(x)):
                    net(x[i:i + 1])
                return len(x) / (time.perf_counter() - t0)
        c, cb, t = [], [], []
        for _ in range(args.repeats):
            c.append(c_rate())
            cb.append(c_rate("baseline"))
            t.append(torch_rate())
        # Ratios repeat by repeat (each snn-run run next to its PyTorch run), then their median:
        # pairing keeps a ratio meaningful when the machine's speed drifts during the benchmark.
        ratio = statistics.median(a / b for a, b in zip(c, t))
        ratio_b = statistics.median(a / b for a, b in zip(cb, t))
        c, cb, t = statistics.median(c), statistics.median(cb), statistics.median(t)
        print(f"{model:18s} {100 * ann:7.2f} {T:4d} {100 * best['accuracy']:8.2f} {c:10.1f} {t:14.1f} {ratio:6.2f}x"
              f" {cb:11.1f} {ratio_b:6.2f}x", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--at-ann-accuracy", action="store_true", help="the per-model table of speed at ANN accuracy")
    ap.add_argument("--models", default=",".join(BUNDLED))
    ap.add_argument("--max-steps", type=int, default=32)
    ap.add_argument("--work", default=None, help="--at-ann-accuracy: keep MODEL.snn and MODEL.json (the eval) "
                    "here and reuse them when present")
    ap.add_argument("--snn", default=None, help="default: convert models/fmnist_cnn_avg.onnx")
    ap.add_argument("--steps", type=int, default=64)
    ap.add_argument("--images", type=int, default=200, help="images for the PyTorch SNN (the slow one)")
    ap.add_argument("--c-images", type=int, default=2000, help="images for snn-run and the ANN")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--precisions", default="int16,int8",
                    help="integer files to time beside the float32 one (default model only); '' for none")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.at_ann_accuracy:
        return at_ann_accuracy(args)
    snn = args.snn
    int_files = []
    plain = None  # float32 with the integer files' neuron, the like-for-like reference for them
    if not snn:
        snn = "/tmp/ann2snn-bench.snn"
        precisions = [p for p in args.precisions.split(",") if p]
        # float32 with the defaults; with integer files, also float32 as they are converted (the
        # plain neuron, channel-wise 99.9th percentile: integer files do not burst).
        for prec in ["float32"] + (["float32-plain"] if precisions else []) + precisions:
            path = snn if prec == "float32" else f"/tmp/ann2snn-bench.{prec}.snn"
            extra = ["--burst", "1", "--norm", "channel=99.9"] if prec == "float32-plain" else ["--precision", prec]
            subprocess.run([tool(args.build, "ann2snn"), os.path.join(ROOT, "models", "fmnist_cnn_avg.onnx"),
                            "--calib", os.path.join(FMNIST, "train-images-idx3-ubyte.gz"), *extra,
                            "-o", path], check=True, stdout=subprocess.DEVNULL)
            if prec == "float32-plain":
                plain = path
            elif prec != "float32":
                int_files.append((prec, path))
    m = snn_file.read(snn)
    sim = TorchSNN(m)
    raw = load_images(max(args.images, args.c_images))
    xs = [torch.tensor(((r.astype(np.float32) * m.pre_scale - m.pre_mean) / m.pre_std)).unsqueeze(0) for r in raw]

    # snn-run: its own process reads the images; time only its loop via --limit runs of two sizes.
    tests = os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz")

    def c_run(n, path=snn):
        out = subprocess.run([tool(args.build, "snn-run"), path, "--input", tests, "--steps", str(args.steps), "--threads", "1",
                              "--limit", str(n)], check=True, capture_output=True, text=True).stdout
        return [int(v) for v in out.split()]

    # Startup (reading 10k images, loading) is measured with 1 image and subtracted.
    def c_rate(path=snn):
        t0 = time.perf_counter()
        c_run(1, path)
        t_one = time.perf_counter() - t0
        t0 = time.perf_counter()
        c_run(args.c_images, path)
        return (args.c_images - 1) / (time.perf_counter() - t0 - t_one)

    # float32 (default and plain) and the integer files take turns, repeat by repeat.
    runs = {name: [] for name in ["float32", "float32-plain"] + [p for p, _ in int_files]}
    for _ in range(args.repeats):
        runs["float32"].append(c_rate())
        if plain:
            runs["float32-plain"].append(c_rate(plain))
        for prec, path in int_files:
            runs[prec].append(c_rate(path))
    c = statistics.median(runs["float32"])
    c_pred = c_run(args.images)

    torch_pred = []
    with torch.no_grad():
        def torch_snn():
            torch_pred.clear()
            for x in xs[:args.images]:
                torch_pred.append(int(sim.run(x, args.steps).argmax()))
        t_snn = median_rate(torch_snn, args.images, args.repeats)
        t_ann = median_rate(lambda: [sim.run(x, 0, ann=True) for x in xs[:args.c_images]], args.c_images, args.repeats)
    floor = subprocess.run([tool(args.build, "scatter-floor"), snn, "--input", tests, "--steps",
                            str(args.steps), "--limit", str(args.c_images), "--repeats",
                            str(args.repeats)], check=True, capture_output=True, text=True).stdout
    floor = dict((k, float(v)) for k, v in (line.split() for line in floor.splitlines()))
    agree = sum(a == b for a, b in zip(c_pred, torch_pred)) / len(torch_pred)
    print(f"model {snn}: {len(m.layers)} layers, T={args.steps}, batch 1, one thread, median of {args.repeats}")
    rows = [("snn-run (C, event-driven)", c), ("PyTorch SNN, clock-driven", t_snn), ("PyTorch ANN forward", t_ann),
            ("accumulation alone (bound)", floor["replay"])]
    if "replay_i16" in floor:  # the same additions on 16-bit weights and currents (timing only)
        rows.append(("  same, 16-bit (bound)", floor["replay_i16"]))
    if plain:
        rows.append(("snn-run, float32 plain file", statistics.median(runs["float32-plain"])))
    for prec, _ in int_files:
        rows.append((f"snn-run, {prec} file", statistics.median(runs[prec])))
    print(f"{'':28s} {'images/s':>10s} {'x PyTorch SNN':>14s} {'snn-run is':>11s}")
    for name, rate in rows:
        print(f"{name:28s} {rate:10.1f} {rate / t_snn:13.2f}x {c / rate:10.2f}x")
    print(f"accumulation alone: {floor['synops'] / 1e6:.2f} M event synops per image, replayed from a run whose"
          f" full step loop did {floor['full']:.1f} images/s")
    print(f"prediction agreement snn-run vs PyTorch SNN on {len(torch_pred)} images: {100 * agree:.1f} %")
    for prec, _ in int_files:  # against float32 as the integer files are converted (plain neuron)
        r, ref = runs[prec], runs["float32-plain"]
        print(f"snn-run {prec} / float32 plain, repeat by repeat: " +
              ", ".join(f"{a / b:.2f}" for a, b in zip(r, ref)) +
              f"; median of the ratios {statistics.median(a / b for a, b in zip(r, ref)):.2f}x")


if __name__ == "__main__":
    main()
