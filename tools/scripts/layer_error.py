#!/usr/bin/python3
"""Per-layer rate error of a .snn file against the ANN it came from, on the first 50
Fashion-MNIST test images:

  /usr/bin/python3 tools/scripts/layer_error.py MODEL.snn T

For every spiking layer: mean |spike count / T - ANN activation| (activations in rate units,
i.e. divided by the layer's scale and capped at 1) and the same relative to the mean
activation. Uses the layers of tools/scripts/bench_speed.py's PyTorch simulation; networks of neuron
layers only (a file with max-pool or concat layers is refused).
"""
import sys, numpy as np, torch, torch.nn.functional as F
sys.path.insert(0, 'tools')
import snn_file, bench_speed
if len(sys.argv) != 3:
    sys.exit(__doc__)
m = snn_file.read(sys.argv[1]); sim = bench_speed.TorchSNN(m); T = int(sys.argv[2])
if any(op[0] != "neuron" for op in sim.ops):
    sys.exit(f"{sys.argv[1]}: has max-pool or concat layers; this tool handles neuron layers only")
raw = bench_speed.load_images(50)
errs = np.zeros(len(m.layers)); acts = np.zeros(len(m.layers))
with torch.no_grad():
    for r in raw:
        x = torch.tensor((r.astype(np.float32) * m.pre_scale - m.pre_mean) / m.pre_std).unsqueeze(0)
        # ANN activations in rate units: relu(z) per neuron layer, capped at 1 (the max rate)
        bufs = [x]; ann = []
        for op in sim.ops:
            if op[0] == "neuron":
                _, L, projs, bias, th = op
                z = sum(f(bufs[p.source]) for f, p in zip(projs, m.proj[L.proj_first:L.proj_first + L.proj_count])) + bias
                a = z if L.flags & 1 else torch.relu(z)
                bufs.append(a); ann.append(a.clamp(max=1) if not L.flags & 1 else a)
            else:
                L = op[1]; bufs.append(F.max_pool2d(bufs[L.source], (L.kh, L.kw), (L.sh, L.sw))); ann.append(bufs[-1])
        # SNN spike counts
        state = []; counts = []
        for op in sim.ops:
            L = op[1]
            v = torch.zeros(1, L.c, L.h, L.w)
            if op[0] == "neuron" and not L.flags & 1:
                v = m.v_init * op[4].expand(1, L.c, L.h, L.w).clone()
            if op[0] == "neuron" and L.v0 is not None:  # 1.6: each neuron's own start (VINI)
                v = torch.from_numpy(L.v0).view(1, L.c, L.h, L.w).clone()
            state.append(v); counts.append(torch.zeros(1, L.c, L.h, L.w))
        for t in range(T):
            sp = [x]
            for i, op in enumerate(sim.ops):
                _, L, projs, bias, th = op
                I = bias.clone()
                for f, p in zip(projs, m.proj[L.proj_first:L.proj_first + L.proj_count]):
                    I = I + f(sp[p.source])
                state[i] = state[i] + I
                if L.flags & 1:
                    counts[i] = state[i]; sp.append(None); continue
                s = (state[i] >= th).float()
                if m.signed:  # -1 spikes: see runtime/snn_sim_step.c fire()
                    s = s - ((state[i] < 0) & (counts[i] > 0)).float()
                state[i] = state[i] - s * th; counts[i] += s; sp.append(s)
        for i in range(len(m.layers) - 1):
            errs[i] += (counts[i] / T - ann[i]).abs().mean().item(); acts[i] += ann[i].mean().item()
for i, L in enumerate(m.layers[:-1]):
    print(f"layer {i} {L.c}x{L.h}x{L.w}: mean |rate - ANN| {errs[i]/50:.4f}, mean ANN rate {acts[i]/50:.4f}, rel {errs[i]/max(acts[i],1e-9):.2f}")
