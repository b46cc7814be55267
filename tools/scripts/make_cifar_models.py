#!/usr/bin/python3
"""CIFAR-shaped VGG-11 and ResNet-18 with random weights, for the evaluator benchmark.

  /usr/bin/python3 tools/scripts/make_cifar_models.py OUTDIR [--samples N] [--seed S]

Writes OUTDIR/vgg11.onnx and OUTDIR/resnet18.onnx (3x32x32 input, 10 classes, BatchNorm,
opset 13, a symbolic batch dimension), OUTDIR/cifar_x.npy ((N, 3, 32, 32) float32, Gaussian)
and, per model, OUTDIR/<model>_y.npy: PyTorch's own class for each sample (int64), so that
`ann2snn accuracy` on them reports its agreement with PyTorch as the accuracy.

The weights are PyTorch's default initialisation under a fixed seed, and every BatchNorm gets
random running statistics, so that folding BatchNorm is exercised; the last layer is rescaled
so that every class wins on some samples. The files are about 37 MB
and 45 MB: made when needed, not committed.
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn

VGG11 = [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"]


class VGG(nn.Module):
    def __init__(self, cfg, classes=10):
        super().__init__()
        layers, c = [], 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU()]
                c = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, classes)

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.short = nn.Sequential()
        if stride != 1 or cin != cout:
            self.short = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = torch.relu(self.b1(self.c1(x)))
        return torch.relu(self.b2(self.c2(y)) + self.short(x))


class ResNet18(nn.Module):
    """He et al. 2016 with the CIFAR stem (one 3x3 convolution, no max-pool)."""

    def __init__(self, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
        blocks, c = [], 64
        for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks += [Block(c, cout, stride), Block(cout, cout, 1)]
            c = cout
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c, classes)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


def randomise_bn(model, gen):
    for mod in model.modules():
        if isinstance(mod, nn.BatchNorm2d):
            n = mod.num_features
            mod.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            mod.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            mod.weight.data.copy_(torch.rand(n, generator=gen) + 0.5)
            mod.bias.data.copy_(torch.randn(n, generator=gen) * 0.1)


def balance_classes(model, head, x):
    """Random weights make one class win everywhere. Standardise each logit over the samples
    (a per-class affine change of the last layer), so that every class wins somewhere and a
    comparison of predictions means something."""
    with torch.no_grad():
        logits = torch.cat([model(x[i:i + 100]) for i in range(0, len(x), 100)])
        mean, std = logits.mean(0), logits.std(0) + 1e-6
        head.weight.div_(std[:, None])
        head.bias.sub_(mean).div_(std)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("outdir")
    ap.add_argument("--samples", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.outdir, exist_ok=True)
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    x = torch.randn(a.samples, 3, 32, 32, generator=gen)
    np.save(os.path.join(a.outdir, "cifar_x.npy"), x.numpy().astype(np.float32))
    for name, model in (("vgg11", VGG(VGG11)), ("resnet18", ResNet18())):
        randomise_bn(model, gen)
        model.eval()
        balance_classes(model, model.classifier if name == "vgg11" else model.fc, x)
        path = os.path.join(a.outdir, name + ".onnx")
        torch.onnx.export(model, x[:1], path, opset_version=13, input_names=["image"],
                          output_names=["logits"],
                          dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
        with torch.no_grad():
            y = torch.cat([model(x[i:i + 100]) for i in range(0, a.samples, 100)]).argmax(1)
        np.save(os.path.join(a.outdir, name + "_y.npy"), y.numpy().astype(np.int64))
        params = sum(p.numel() for p in model.parameters())
        print(f"{path}: {params / 1e6:.1f} M parameters, {len(set(y.tolist()))} distinct classes")


if __name__ == "__main__":
    main()
