"""ctypes bindings of libann2snn (<ann2snn/ann2snn.h>): the structs laid out as the header
declares them, and the library found where meson installed it.

The library is looked up, in order: $ANN2SNN_LIBRARY (a path to libann2snn.so), the libdir
this package was installed with (_paths.py, written by meson: relative to the package, then as
the prefix says), then the system's search path.
"""
import ctypes
import ctypes.util
import os

try:
    from . import _paths
except ImportError:  # a source tree without meson's _paths.py
    _paths = None


class Error(Exception):
    """A failure reported by libann2snn: `status` is its short name ("io", "format",
    "unsupported", "invalid", "nomem", "limit", "argument"), the message says what and where."""

    def __init__(self, message, status="argument", where="", offset=-1):
        super().__init__(message)
        self.status, self.where, self.offset = status, where, offset


class Diag(ctypes.Structure):
    _fields_ = [("message", ctypes.c_char * 512), ("where", ctypes.c_char * 160), ("offset", ctypes.c_int64)]


SAMPLE_FN = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.c_int64, ctypes.POINTER(ctypes.c_float),
                             ctypes.POINTER(Diag))
PROGRESS_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int64, ctypes.c_int64)
REDUCE_FN = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int64)
MAX_CHANNELS = 16


class Samples(ctypes.Structure):
    _fields_ = [("values", ctypes.POINTER(ctypes.c_float)), ("n", ctypes.c_int64), ("sample_size", ctypes.c_int64),
                ("raw_bytes", ctypes.c_bool), ("get", SAMPLE_FN), ("ctx", ctypes.c_void_p)]


class Split(ctypes.Structure):
    _fields_ = [("rank", ctypes.c_int), ("ranks", ctypes.c_int), ("all_reduce", REDUCE_FN), ("ctx", ctypes.c_void_p)]


E = ctypes.c_int  # a C enum
U32, I64 = ctypes.c_uint32, ctypes.c_int64


class Options(ctypes.Structure):
    """ann2snn_options, field for field; ann2snn_options_size() checks the layout at load."""
    _fields_ = [
        ("calib_count", I64), ("data_free", E), ("bn_k", ctypes.c_float), ("scale", ctypes.c_float),
        ("mean", ctypes.c_float * MAX_CHANNELS), ("std", ctypes.c_float * MAX_CHANNELS),
        ("n_mean", ctypes.c_int), ("n_std", ctypes.c_int),
        ("norm", E), ("percentile", ctypes.c_double), ("tsearch_steps", U32), ("headroom", ctypes.c_float),
        ("calibrate_for", U32), ("correct", E), ("correct_count", I64), ("correct_rounds", U32),
        ("burst", U32), ("reset", E), ("spikes", E), ("v_init", ctypes.c_float), ("readout", E), ("coding", E),
        ("steps", I64), ("precision", E),
        ("threads", ctypes.c_int), ("reference_kernels", ctypes.c_bool), ("split", ctypes.POINTER(Split)),
        ("progress", PROGRESS_FN), ("progress_ctx", ctypes.c_void_p),
    ]


class Result(ctypes.Structure):
    _fields_ = [("bytes", ctypes.POINTER(ctypes.c_uint8)), ("size", ctypes.c_size_t), ("report", ctypes.c_void_p),
                ("notes", ctypes.c_void_p), ("summary", ctypes.c_void_p), ("calib_seconds", ctypes.c_double)]


MAX_EXITS = 16


class EvalOptions(ctypes.Structure):
    """ann2snn_eval_options, field for field; ann2snn_eval_options_size() checks the layout."""
    _fields_ = [
        ("steps", U32), ("coding", ctypes.c_int), ("resolution", I64), ("seed", ctypes.c_uint64),
        ("threads", ctypes.c_int), ("pj_ac", ctypes.c_double), ("pj_mac", ctypes.c_double),
        ("exit_rule", E), ("exit_thresholds", ctypes.c_float * MAX_EXITS), ("n_exit", ctypes.c_int),
        ("layers", ctypes.c_bool), ("ann", ctypes.c_void_p), ("split", ctypes.POINTER(Split)),
        ("progress", PROGRESS_FN), ("progress_ctx", ctypes.c_void_p),
    ]


class Evaluation(ctypes.Structure):
    _fields_ = [("table", ctypes.c_void_p), ("json", ctypes.c_void_p), ("svg", ctypes.c_void_p)]


class RunOptions(ctypes.Structure):
    _fields_ = [("steps", U32), ("coding", ctypes.c_int), ("seed", ctypes.c_uint64), ("threads", ctypes.c_int),
                ("progress", PROGRESS_FN), ("progress_ctx", ctypes.c_void_p)]


STATUS = ["ok", "io", "format", "unsupported", "invalid", "nomem", "limit", "argument"]
CODINGS = {"direct": 0, "poisson": 1, "ttfs": 2}


def _candidates():
    env = os.environ.get("ANN2SNN_LIBRARY")
    if env:
        yield env
    if _paths is not None:
        here = os.path.dirname(os.path.abspath(__file__))
        yield os.path.normpath(os.path.join(here, _paths.LIBDIR_FROM_PACKAGE, "libann2snn.so"))
        yield os.path.join(_paths.LIBDIR, "libann2snn.so")
    found = ctypes.util.find_library("ann2snn")
    if found:
        yield found


def _load():
    tried = []
    for path in _candidates():
        try:
            # The runtime beside it first, so that its soname resolves wherever the pair was
            # installed (a staged prefix is on no search path).
            folder = os.path.dirname(path)
            for name in sorted(os.listdir(folder)) if folder and os.path.isdir(folder) else []:
                if name.startswith("libann2snn-runtime.so"):
                    ctypes.CDLL(os.path.join(folder, name), mode=ctypes.RTLD_GLOBAL)
                    break
            lib = ctypes.CDLL(path)
            break
        except OSError as e:
            tried.append(f"{path} ({e})")
    else:
        raise ImportError("ann2snn: libann2snn not found; install ann2snn (meson install) or set ANN2SNN_LIBRARY "
                          "to libann2snn.so" + (": tried " + "; ".join(tried) if tried else ""))
    P, D, c = ctypes.POINTER, ctypes.POINTER(Diag), ctypes
    sigs = {
        "ann2snn_version": (c.c_char_p, []),
        "ann2snn_options_size": (c.c_size_t, []),
        "ann2snn_options_init": (None, [P(Options)]),
        "ann2snn_options_set": (c.c_int, [P(Options), c.c_char_p, c.c_char_p, D]),
        "ann2snn_options_check": (c.c_int, [P(Options), c.c_bool, D]),
        "ann2snn_model_load_file": (c.c_int, [c.c_char_p, P(c.c_void_p), D]),
        "ann2snn_model_load_bytes": (c.c_int, [c.c_char_p, c.c_size_t, c.c_char_p, P(c.c_void_p), D]),
        "ann2snn_model_free": (None, [c.c_void_p]),
        "ann2snn_model_input_shape": (c.c_int, [c.c_void_p, P(c.c_int64)]),
        "ann2snn_convert": (c.c_int, [c.c_void_p, P(Samples), P(Options), P(Result), D]),
        "ann2snn_result_free": (None, [P(Result)]),
        "ann2snn_snn_describe": (c.c_int, [c.c_char_p, c.c_size_t, c.c_char_p, c.c_bool, P(c.c_void_p), D]),
        "ann2snn_run": (c.c_int, [c.c_char_p, c.c_size_t, P(c.c_float), c.c_int64, c.c_int64, P(RunOptions),
                                  P(c.c_float), P(c.c_int32), P(c.c_uint64), P(c.c_uint64), D]),
        "ann2snn_eval_options_size": (c.c_size_t, []),
        "ann2snn_eval_options_init": (None, [P(EvalOptions)]),
        "ann2snn_eval_options_set": (c.c_int, [P(EvalOptions), c.c_char_p, c.c_char_p, D]),
        "ann2snn_evaluate": (c.c_int, [c.c_char_p, c.c_size_t, c.c_char_p, P(Samples), P(c.c_int32), P(EvalOptions),
                                       P(Evaluation), D]),
        "ann2snn_evaluation_free": (None, [P(Evaluation)]),
        "ann2snn_write_file": (c.c_int, [c.c_char_p, c.c_char_p, c.c_size_t, D]),
        "ann2snn_free": (None, [c.c_void_p]),
    }
    for name, (res, args) in sigs.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args
    for name, struct in (("ann2snn_options_size", Options), ("ann2snn_eval_options_size", EvalOptions)):
        if getattr(lib, name)() != ctypes.sizeof(struct):
            raise ImportError(f"ann2snn: the library's {struct.__name__} is {getattr(lib, name)()} bytes, these "
                              f"bindings' {ctypes.sizeof(struct)}: the package and the library are from different "
                              f"versions")
    return lib


lib = _load()


def check(status, diag):
    """Raise Error for a failing status, with the library's message."""
    if status != 0:
        name = STATUS[status] if 0 <= status < len(STATUS) else str(status)
        msg = diag.message.decode(errors="replace") or name
        where = diag.where.decode(errors="replace")
        if where:
            msg = f"{where}: {msg}"
        if diag.offset >= 0:
            msg += f" (at byte {diag.offset})"
        raise Error(msg, name, diag.where.decode(errors="replace"), diag.offset)


def take_string(ptr):
    """A malloc'd C string from the library as str, freed."""
    if not ptr:
        return ""
    try:
        return ctypes.string_at(ptr).decode()
    finally:
        lib.ann2snn_free(ptr)
