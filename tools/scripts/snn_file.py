"""A reader of the .snn format written from docs/snn-format.md alone, independent of the C
runtime, for the benchmark's PyTorch simulation and for checking files by hand."""
import struct
import zlib
from types import SimpleNamespace

import numpy as np

MAGIC = b"A2SNN\r\n\x1a"
LAYER_NEURON, LAYER_MAXPOOL, LAYER_CONCAT = 1, 2, 3
FEATURE_TTFS, FEATURE_SIGNED, FEATURE_CHANNEL_PREP, FEATURE_INT, FEATURE_BURST, FEATURE_VINIT, FEATURE_QINIT = \
    1, 2, 4, 8, 16, 32, 64
DTYPE_F32, DTYPE_I16, DTYPE_I8 = 0, 1, 2
PROJ_DENSE, PROJ_CONV, PROJ_AVGPOOL, PROJ_GLOBALAVG, PROJ_IDENTITY, PROJ_COPY = 1, 2, 3, 4, 5, 6


def read(path):
    data = open(path, "rb").read()
    if data[:8] != MAGIC:
        raise ValueError("not a .snn file")
    major, minor, hsize, nsec, table, fsize, crc = struct.unpack_from("<HHIII Q I", data, 8)
    if major != 1 or fsize != len(data):
        raise ValueError("unsupported version or truncated file")
    hdr = bytearray(data[:64])
    hdr[32:36] = b"\0\0\0\0"
    if zlib.crc32(data[64:64 + 32 * nsec], zlib.crc32(bytes(hdr))) != crc:
        raise ValueError("header checksum mismatch")
    sec = {}
    for i in range(nsec):
        tag, _, off, size, scrc, count = struct.unpack_from("<IIQQII", data, 64 + 32 * i)
        if zlib.crc32(data[off:off + size]) != scrc:
            raise ValueError(f"section {i} checksum mismatch")
        sec[struct.pack("<I", tag).decode()] = (off, size, count)
    off = sec["META"][0]
    (ic, ih, iw, sc, mean, std, ncls, nl, npj, coding, steps, reset, vinit, readout, feat, acc,
     norm, pct, calib) = struct.unpack_from("<3I3f6If2IfIfI", data, off)
    m = SimpleNamespace(input_c=ic, input_h=ih, input_w=iw, pre_scale=sc, pre_mean=mean, pre_std=std,
                        n_classes=ncls, coding=coding, steps=steps, reset=reset, v_init=vinit,
                        readout=readout, ann_accuracy=acc, norm=norm, percentile=pct, features=feat,
                        signed=bool(feat & FEATURE_SIGNED), layers=[], proj=[])
    # 1.5: burst spikes (up to `burst` per neuron and step) and provenance.
    m.burst = struct.unpack_from("<I", data, off + 136)[0] if feat & FEATURE_BURST else 1
    m.target_steps, m.correct_steps, m.correct_count = struct.unpack_from("<3I", data, off + 124)
    m.calib_source = struct.unpack_from("<I", data, off + 140)[0]
    # 1.3: per-channel mean and std (PREP: C means, then C stds).
    m.pre_mean_c = m.pre_std_c = None
    if feat & FEATURE_CHANNEL_PREP:
        poff, _, pc = sec["PREP"]
        vals = struct.unpack_from(f"<{2 * pc}f", data, poff)
        m.pre_mean_c, m.pre_std_c = list(vals[:pc]), list(vals[pc:])
    woff = sec["WGHT"][0]
    weights = np.frombuffer(data, np.float32, count=sec["WGHT"][2], offset=woff)
    # 1.4: integer files keep the projections' weights in QWGT (int16 or int8) and each neuron
    # layer's integer bias, threshold and initial membrane in QPAR, in per-channel units.
    m.weight_dtype = struct.unpack_from("<I", data, off + 108)[0]
    m.integer = bool(feat & FEATURE_INT)
    m.input_frac = struct.unpack_from("<I", data, off + 120)[0] if m.integer else 0
    if m.integer:
        qoff, _, qcount = sec["QWGT"]
        qweights = np.frombuffer(data, np.int8 if m.weight_dtype == DTYPE_I8 else np.dtype("<i2"), count=qcount,
                                 offset=qoff)
        poff_q, _, pcount = sec["QPAR"]
        qpar = np.frombuffer(data, np.dtype("<i4"), count=pcount, offset=poff_q)
    poff = sec["PROJ"][0]
    for i in range(npj):
        r = poff + 64 * i
        kind, src, wo, nw = struct.unpack_from("<IIII", data, r)
        kh, kw, sh, sw, dh, dw, pt, pl, pb, pr, group = struct.unpack_from("<11H", data, r + 16)
        c, h, w = struct.unpack_from("<III", data, r + 40)
        w_arr = qweights[wo:wo + nw].astype(np.int32) if m.integer else weights[wo:wo + nw].copy()
        m.proj.append(SimpleNamespace(kind=kind, source=src, w=w_arr, kh=kh, kw=kw,
                                      sh=sh, sw=sw, dh=dh, dw=dw, pt=pt, pl=pl, pb=pb, pr=pr, group=group,
                                      src_c=c, src_h=h, src_w=w))
    loff = sec["LAYR"][0]
    for i in range(nl):
        r = loff + 64 * i
        kind, flags, c, h, w, pf, pc, bo, to, src = struct.unpack_from("<10I", data, r)
        kh, kw, sh, sw, pt, pl, pb, pr = struct.unpack_from("<8H", data, r + 40)
        L = SimpleNamespace(kind=kind, flags=flags, c=c, h=h, w=w, proj_first=pf, proj_count=pc, source=src,
                            kh=kh, kw=kw, sh=sh, sw=sw, pt=pt, pl=pl, pb=pb, pr=pr)
        if kind == LAYER_NEURON and m.integer:  # integers only; units for the output layer
            qo, uo = struct.unpack_from("<II", data, r + 56)
            L.qbias, L.qtheta = (qpar[qo + k * c:qo + (k + 1) * c].copy() for k in range(2))
            if feat & FEATURE_QINIT:  # 1.7: derived, as snn_qinit() in runtime/snn_format.h
                q = np.int64(np.floor(np.float32(vinit) * np.float32(65536) + np.float32(0.5)))
                L.qv0 = ((L.qtheta.astype(np.int64) * q + 32768) >> 16).astype(np.int32)
            else:
                L.qv0 = qpar[qo + 2 * c:qo + 3 * c].copy()
            L.unit = weights[uo:uo + c].copy() if flags & 1 else None
        elif kind == LAYER_NEURON:
            L.bias = weights[bo:bo + c].copy()
            L.threshold = weights[to:to + c].copy()
        L.v0 = None
        m.layers.append(L)
    # 1.6: each neuron's own initial membrane (VINI: the neuron layers' c*h*w values in order,
    # channel-last), kept here as (C, H, W) arrays.
    if feat & FEATURE_VINIT:
        voff, _, vcount = sec["VINI"]
        vini = np.frombuffer(data, np.float32, count=vcount, offset=voff)
        k = 0
        for L in m.layers:
            if L.kind == LAYER_NEURON:
                n = L.c * L.h * L.w
                L.v0 = vini[k:k + n].reshape(L.h, L.w, L.c).transpose(2, 0, 1).copy()
                k += n
    return m
