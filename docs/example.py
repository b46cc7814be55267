"""docs/python.md's walk-through: convert a bundled model from Python, evaluate it on the full
Fashion-MNIST test set, and plot accuracy against time steps.
  /usr/bin/python3 docs/example.py [OUT_DIR]"""
import gzip
import sys

import numpy as np

import ann2snn


def idx(path):
    """An IDX file as NumPy: images (N, 1, 28, 28) uint8, labels (N,) uint8."""
    data = gzip.open(path).read()
    n = int.from_bytes(data[4:8], "big")
    if data[3] == 3:
        return np.frombuffer(data, np.uint8, offset=16).reshape(n, 1, 28, 28)
    return np.frombuffer(data, np.uint8, offset=8)


out = sys.argv[1] if len(sys.argv) > 1 else "."
fm = "/usr/share/datasets/fashion-mnist/"
train = idx(fm + "train-images-idx3-ubyte.gz")
test_x, test_y = idx(fm + "t10k-images-idx3-ubyte.gz"), idx(fm + "t10k-labels-idx1-ubyte.gz")

# Convert: 1,000 training images calibrate it (uint8, so scaled by 1/255 as the model expects).
snn = ann2snn.convert("models/fmnist_cnn_avg.onnx", train[:1000], precision="int8")
print(snn.summary)
snn.save(f"{out}/cnn_int8.snn")
print(snn.info()["state_bytes"], "bytes of state per inference")

# Run: the readout and the spikes of each layer.
result = snn.run(test_x[:5], steps=32)
print("predicted", result.predictions, "label", test_y[:5])
for name, spikes in zip(result.layers, result.spikes):
    print(f"  {name:12s} {int(spikes) / 5:10.0f} spikes per image")

# Evaluate against the ANN on the whole test set, and plot accuracy against T.
ev = snn.evaluate(test_x, test_y, ann="models/fmnist_cnn_avg.onnx", steps=32)
print(ev.table)
print("T=8 accuracy", ev["curve"][3]["accuracy"], "ANN", ev["ann_accuracy"])
print("plot:", ann2snn.SNN.plot(ev, f"{out}/accuracy.svg"))
