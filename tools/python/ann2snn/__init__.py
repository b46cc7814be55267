"""ann2snn from Python: convert ReLU networks (ONNX files, ONNX bytes, or torch.nn.Module) into
spiking networks, and run them; NumPy arrays in and out.

    import ann2snn
    snn = ann2snn.convert("models/fmnist_cnn_avg.onnx", calib_images, precision="int8")
    snn.save("cnn.snn")
    result = snn.run(test_images, steps=32)      # result.outputs (N, classes), .spikes, .synops
    snn.predict(test_images)                      # (N,) classes

Every keyword option of convert() is an option of `ann2snn MODEL.onnx` (see its --help) with
'_' for '-': norm="tsearch=4", calibrate_for=4, data_free="bn=6", mean=(0.49, 0.48, 0.45).
The package is a thin layer over libann2snn (docs/python.md): the bytes it writes are those the
command line writes with the same options and samples.
"""
import ctypes
import json
import os
import sys

import numpy as np

from . import _lib
from ._lib import Error

__all__ = ["convert", "load", "export_onnx", "SNN", "RunResult", "EvalResult", "Error", "version", "ONNX_EXPORT"]


def version():
    """libann2snn's version."""
    return _lib.lib.ann2snn_version().decode()


# How convert() exports a torch.nn.Module: opset 13, eval mode (BatchNorm folded into the
# convolution before it by the exporter), constants folded, input named "input", a fixed batch
# of 1. export_onnx() with these settings gives the bytes convert() converts.
ONNX_EXPORT = dict(opset_version=13, do_constant_folding=True, input_names=["input"], output_names=["output"])


def export_onnx(module, example):
    """The ONNX bytes of a torch.nn.Module, exported with ONNX_EXPORT from one example sample,
    without a batch dimension: (C, H, W) for an image model (a NumPy array or a tensor)."""
    try:
        import io
        import torch
    except ImportError as e:
        raise Error("ann2snn: converting a torch.nn.Module needs torch (Debian: python3-torch)") from e
    if example is None:
        raise Error("a torch.nn.Module needs an example input (example=...), which fixes the input shape")
    x = torch.as_tensor(np.asarray(example, dtype=np.float32)).unsqueeze(0)  # a batch of one
    was_training = module.training
    module.eval()
    buf = io.BytesIO()
    try:
        torch.onnx.export(module, x, buf, **ONNX_EXPORT)
    finally:
        module.train(was_training)
    return buf.getvalue()


class _Model:
    """An ONNX model loaded by the library (freed with the object)."""

    def __init__(self, model, example=None):
        self.ptr = ctypes.c_void_p()
        d = _lib.Diag()
        if isinstance(model, (str, os.PathLike)):
            _lib.check(_lib.lib.ann2snn_model_load_file(os.fsencode(model), ctypes.byref(self.ptr), d), d)
            return
        if not isinstance(model, (bytes, bytearray, memoryview)):
            model = export_onnx(model, example)
        data = bytes(model)
        _lib.check(_lib.lib.ann2snn_model_load_bytes(data, len(data), b"model.onnx", ctypes.byref(self.ptr), d), d)

    def input_shape(self):
        dims = (ctypes.c_int64 * 8)()
        rank = _lib.lib.ann2snn_model_input_shape(self.ptr, dims)
        return tuple(dims[:rank])

    def __del__(self):
        if getattr(self, "ptr", None):
            _lib.lib.ann2snn_model_free(self.ptr)
            self.ptr = None


def _as_samples(x, what, sample_size=None, limit=None):
    """x (an array, a tensor, or an iterable of batches) as a C-contiguous float32 array (N,
    sample_size) and whether it holds raw bytes (uint8). Shape and dtype are checked here,
    before anything reaches C."""
    if hasattr(x, "__array__") or isinstance(x, (list, tuple)):
        arrays = [x]
    else:  # an iterable of batches: (x, y) pairs as a DataLoader gives, or bare arrays
        arrays, count = [], 0
        for batch in x:
            b = batch[0] if isinstance(batch, (tuple, list)) else batch
            arrays.append(b)
            count += len(b)
            if limit is not None and count >= limit:
                break
        if not arrays:
            raise Error(f"{what}: the iterable gave no batches")
    parts = []
    for a in arrays:
        if hasattr(a, "detach"):  # a torch tensor
            a = a.detach().cpu().numpy()
        parts.append(np.asarray(a))
    raw = all(p.dtype == np.uint8 for p in parts)
    for p in parts:
        if p.dtype.kind not in "uif" or p.dtype == np.float16:
            raise Error(f"{what}: dtype {p.dtype} is not a number type ann2snn reads (uint8, integers, float32, "
                        f"float64)")
        if p.ndim < 1:
            raise Error(f"{what}: a scalar is not a batch of samples; give shape (N, ...)")
    a = np.concatenate(parts) if len(parts) > 1 else parts[0]
    if limit is not None:
        a = a[:limit]
    n = a.shape[0]
    if n == 0:
        raise Error(f"{what}: no samples (shape {a.shape})")
    size = int(np.prod(a.shape[1:])) if a.ndim > 1 else 1
    if sample_size is not None and size != sample_size:
        if int(np.prod(a.shape)) == sample_size:
            raise Error(f"{what}: shape {a.shape} is one sample, not a batch; give shape (N, ...)")
        raise Error(f"{what}: samples of shape {a.shape[1:]} have {size} values, the model's input takes "
                    f"{sample_size}")
    return np.ascontiguousarray(a.reshape(n, size), dtype=np.float32), raw


def _first_sample(x):
    """The first sample of an array, a tensor or an iterable of batches, in its own shape."""
    if not (hasattr(x, "__array__") or isinstance(x, (list, tuple))):
        batch = next(iter(x))
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)[0]


class _Progress:
    """Progress of long library stages: tqdm when installed, else a line on stderr (when it is a
    terminal), as the command line does."""

    def __init__(self):
        try:
            from tqdm import tqdm
        except ImportError:
            tqdm = None
        self.tqdm, self.bars = tqdm, {}
        self.fn = _lib.PROGRESS_FN(self)

    def __call__(self, ctx, stage, done, total):
        stage = stage.decode()
        if self.tqdm is not None:
            bar = self.bars.get(stage) or self.bars.setdefault(stage, self.tqdm(total=total, desc=stage))
            bar.update(done - bar.n)
            if done >= total:
                bar.close()
        elif sys.stderr.isatty():
            sys.stderr.write(f"\r{stage} {done}/{total}" + ("\n" if done >= total else ""))
            sys.stderr.flush()


def _set_options(setter, struct, kwargs):
    """Each keyword into struct by its command-line name ('_' for '-') through the library's
    setter (ann2snn_options_set or ann2snn_eval_options_set): True is a flag, a sequence a
    comma-separated list, None and False leave the default."""
    d = _lib.Diag()
    for key, value in kwargs.items():
        if value is None or value is False:
            continue
        if value is True:
            text = None
        elif isinstance(value, (list, tuple, np.ndarray)):
            text = ",".join(repr(float(v)) for v in value)
        else:
            text = str(value)
        _lib.check(setter(ctypes.byref(struct), key.replace("_", "-").encode(), text and text.encode(), d), d)


def _options(kwargs, progress=True):
    o = _lib.Options()
    _lib.lib.ann2snn_options_init(ctypes.byref(o))
    _set_options(_lib.lib.ann2snn_options_set, o, kwargs)
    keep = None
    if progress:
        keep = _Progress()
        o.progress = keep.fn
    return o, keep


def convert(model, calib=None, *, example=None, **options):
    """Convert a ReLU network into an SNN.

    model: an ONNX path, ONNX bytes, or a torch.nn.Module (exported with ONNX_EXPORT; give
        example=, one input sample, unless calib is given, whose first sample then serves).
    calib: calibration samples as stored (N, ...) — uint8 raw bytes (scaled by 1/255 unless
        scale= says otherwise) or floats — an array, a tensor, or an iterable of batches such as
        a DataLoader (the first calib_count samples are taken). None: data-free calibration
        (data_free=).
    options: any option of `ann2snn MODEL.onnx`, '-' written '_': norm, reset, spikes, v_init,
        coding ('rate' means direct), precision, scale, mean, std, burst, calibrate_for, correct,
        steps, threads, ...

    Returns an SNN; its notes (what the command line prints on stderr) are in snn.notes.
    """
    if options.get("coding") == "rate":
        options["coding"] = "direct"
    progress = options.pop("progress", True)
    o, keep = _options(options, progress)
    d = _lib.Diag()
    _lib.check(_lib.lib.ann2snn_options_check(ctypes.byref(o), calib is not None, d), d)
    if example is None and calib is not None and not isinstance(model, (str, os.PathLike, bytes, bytearray)):
        example = _first_sample(calib)
    m = _Model(model, example)
    samples = None
    if calib is not None:
        shape = m.input_shape()
        want = int(np.prod(shape[1:])) if len(shape) > 1 else None
        x, raw = _as_samples(calib, "calib", want, limit=o.calib_count)
        samples = _lib.Samples(values=x.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), n=x.shape[0],
                               sample_size=x.shape[1], raw_bytes=raw)
    res = _lib.Result()
    st = _lib.lib.ann2snn_convert(m.ptr, ctypes.byref(samples) if samples else None, ctypes.byref(o),
                                  ctypes.byref(res), d)
    _lib.check(st, d)
    try:
        data = ctypes.string_at(res.bytes, res.size)
        report = ctypes.string_at(res.report).decode()
        notes = ctypes.string_at(res.notes).decode()
        summary = ctypes.string_at(res.summary).decode()
    finally:
        _lib.lib.ann2snn_result_free(ctypes.byref(res))
    snn = SNN(data)
    snn.report, snn.notes, snn.summary = json.loads(report), notes, summary
    return snn


def load(path):
    """An SNN from a .snn file (checked whole, as the runtime loads it)."""
    with open(path, "rb") as f:
        return SNN(f.read(), name=os.fspath(path))


class RunResult:
    """What SNN.run() gives: outputs (N, classes) float32, the readout after the last step;
    predictions (N,) int32; per layer, spikes emitted and synaptic operations into it, summed
    over the samples (layers,) uint64; layers, the layers' names."""

    def __init__(self, outputs, predictions, spikes, synops, layers):
        self.outputs, self.predictions, self.spikes, self.synops, self.layers = (outputs, predictions, spikes,
                                                                                   synops, layers)

    def __repr__(self):
        return (f"RunResult({self.outputs.shape[0]} samples, {self.spikes.sum()} spikes, {self.synops.sum()} "
                f"synaptic operations)")


class SNN:
    """A converted spiking network: the bytes of its .snn file, checked by the runtime."""

    def __init__(self, data, name="model.snn"):
        self.data, self.name = bytes(data), name
        self.report, self.notes, self.summary = None, "", ""
        self._info = self.info()  # validates the file whole

    def save(self, path):
        """Write the .snn file (the bytes `ann2snn` would write)."""
        d = _lib.Diag()
        _lib.check(_lib.lib.ann2snn_write_file(os.fsencode(path), self.data, len(self.data), d), d)
        self.name = os.fspath(path)  # evaluate() names it as `ann2snn eval PATH` does

    def _describe(self, as_json):
        text, d = ctypes.c_void_p(), _lib.Diag()
        st = _lib.lib.ann2snn_snn_describe(self.data, len(self.data), self.name.encode(), as_json,
                                           ctypes.byref(text), d)
        _lib.check(st, d)
        return _lib.take_string(text)

    def info(self):
        """The file described as a dict (what `ann2snn info FILE.snn --json` prints): version,
        precision, provenance, input, coding, steps, layers, sections."""
        return json.loads(self._describe(True))

    def __str__(self):
        return self._describe(False)

    @property
    def classes(self):
        return self._info["classes"]

    @property
    def input_shape(self):
        return tuple(self._info["input"]["shape"])

    def run(self, x, steps=None, coding=None, seed=1, threads=0, progress=True):
        """Run the SNN on raw samples x (N, C, H, W) or (N, C*H*W), as stored (the file's
        preprocessing applies). steps: time steps (TTFS: steps per layer window); coding:
        'direct', 'poisson' or 'ttfs' (default: the file's). Returns a RunResult."""
        size = int(np.prod(self.input_shape))
        a, _ = _as_samples(x, "x", size)
        if coding is not None and coding not in _lib.CODINGS:
            raise Error(f"coding: '{coding}' is not direct, poisson or ttfs")
        if steps is not None and not (isinstance(steps, (int, np.integer)) and 0 < steps < 2 ** 31):
            raise Error(f"steps: {steps!r} is not a positive whole number")
        o = _lib.RunOptions(steps=steps or 0, coding=_lib.CODINGS[coding] if coding else -1, seed=seed,
                            threads=threads)
        keep = _Progress() if progress else None
        if keep:
            o.progress = keep.fn
        n, layers = a.shape[0], self._info["layers"]
        out = np.zeros((n, self.classes), np.float32)
        pred = np.zeros(n, np.int32)
        spikes = np.zeros(len(layers), np.uint64)
        synops = np.zeros(len(layers), np.uint64)
        d = _lib.Diag()
        P = ctypes.POINTER
        st = _lib.lib.ann2snn_run(self.data, len(self.data), a.ctypes.data_as(P(ctypes.c_float)), n, a.shape[1],
                                  ctypes.byref(o), out.ctypes.data_as(P(ctypes.c_float)),
                                  pred.ctypes.data_as(P(ctypes.c_int32)), spikes.ctypes.data_as(P(ctypes.c_uint64)),
                                  synops.ctypes.data_as(P(ctypes.c_uint64)), d)
        _lib.check(st, d)
        return RunResult(out, pred, spikes, synops, [L["name"] for L in layers])

    def predict(self, x, steps=None, coding=None, seed=1, threads=0):
        """The predicted class of each sample, (N,) int32."""
        return self.run(x, steps, coding, seed, threads).predictions

    def evaluate(self, x, y, *, ann=None, example=None, progress=True, **options):
        """Accuracy against time steps, with spikes, synaptic operations and energy, next to the
        ANN's accuracy: the dict `ann2snn eval --json` writes, with the same keys and numbers.

        x: raw samples (N, ...) as stored; y: their classes (N,). ann: the ANN (an ONNX path,
        bytes, or a torch.nn.Module with example=) for its accuracy on the same samples, the
        agreement with it and, with layers=True, the per-layer error. options: those of
        `ann2snn eval`, '-' written '_': steps, coding, resolution, seed, threads, pj_ac, pj_mac,
        exit ("confidence" or "margin=0.1,1"), layers.

        The result also carries .table (what `ann2snn eval` prints) and .svg (its --plot)."""
        size = int(np.prod(self.input_shape))
        a, _ = _as_samples(x, "x", size)
        labels = np.ascontiguousarray(np.asarray(y.detach().cpu().numpy() if hasattr(y, "detach") else y))
        if labels.ndim != 1 or labels.shape[0] != a.shape[0] or labels.dtype.kind not in "ui":
            raise Error(f"y: shape {labels.shape} and dtype {labels.dtype}: give {a.shape[0]} class indices, "
                        f"one per sample (integers)")
        labels = labels.astype(np.int32)
        o = _lib.EvalOptions()
        _lib.lib.ann2snn_eval_options_init(ctypes.byref(o))
        d = _lib.Diag()
        _set_options(_lib.lib.ann2snn_eval_options_set, o, options)
        model = _Model(ann, example) if ann is not None else None
        o.ann = model.ptr if model else None
        keep = _Progress() if progress else None
        if keep:
            o.progress = keep.fn
        samples = _lib.Samples(values=a.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), n=a.shape[0],
                               sample_size=a.shape[1])
        ev = _lib.Evaluation()
        st = _lib.lib.ann2snn_evaluate(self.data, len(self.data), self.name.encode(), ctypes.byref(samples),
                                       labels.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)), ctypes.byref(o),
                                       ctypes.byref(ev), d)
        _lib.check(st, d)
        try:
            result = EvalResult(json.loads(ctypes.string_at(ev.json).decode()))
            result.table = ctypes.string_at(ev.table).decode()
            result.svg = ctypes.string_at(ev.svg).decode()
        finally:
            _lib.lib.ann2snn_evaluation_free(ctypes.byref(ev))
        return result

    @staticmethod
    def plot(result, path=None):
        """Accuracy against time steps from evaluate()'s result: a matplotlib figure when
        matplotlib is installed (Debian python3-matplotlib; saved to path if given), else the
        SVG `ann2snn eval --plot` writes, saved to path (default accuracy.svg). Returns the
        figure, or the SVG's path."""
        try:
            import matplotlib
            if path is not None:
                matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            path = path or "accuracy.svg"
            with open(path, "w") as f:
                f.write(result.svg)
            return path
        curve = [p for p in result["curve"] if p["steps"] is not None]
        fig, ax = plt.subplots()
        ax.plot([p["steps"] for p in curve], [100 * p["accuracy"] for p in curve], "o-", label="SNN")
        if result.get("early_exit"):
            ax.plot([max(1.0, p["mean_steps"]) for p in result["early_exit"]],
                    [100 * p["accuracy"] for p in result["early_exit"]], "o-", label="early exit (mean steps)")
        if result.get("ann_accuracy") is not None:
            ax.axhline(100 * result["ann_accuracy"], color="gray", linestyle="--", label="ANN")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("time steps")
        ax.set_ylabel("accuracy (%)")
        ax.legend()
        if path is not None:
            fig.savefig(path)
        return fig


class EvalResult(dict):
    """SNN.evaluate()'s result: the dict of `ann2snn eval --json`, with .table and .svg."""
    table = ""
    svg = ""
