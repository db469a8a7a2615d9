#!/usr/bin/python3
"""What PyTorch itself builds, for core/model_presets_torch_test.

Usage: torch_modules.py SEED STACK...
Each STACK is LAYERS,IN,WIDTH,OUT,BIAS: an nn.Module whose nn.ModuleList `layers` holds
nn.Linear(IN, WIDTH), nn.Linear(WIDTH, WIDTH), ..., nn.Linear(WIDTH, OUT) (BIAS 0 or 1), built
under torch.manual_seed(SEED) so that PyTorch's default reset_parameters runs.

Output, one fact per line (floats as float.hex()):
    torch VERSION
    gain GAIN                            torch.nn.init.calculate_gain('leaky_relu', sqrt(5))
    model INDEX
    param NAME D0,D1,.. FAN_IN MIN MAX   in named_parameters() order; FAN_IN from torch's
                                         _calculate_fan_in_and_fan_out, '-' for 1-D tensors
    convention linear NAME SHAPE         nn.Linear(5, 3)
    convention embedding NAME SHAPE      nn.Embedding(7, 4)
    convention layernorm NAME SHAPE VAL  nn.LayerNorm(4): VAL is 1 (all ones), 0 (all zeros)
Exit status 3 when torch cannot be imported (the C++ test skips before that happens).
"""

import math
import sys


def shape(t):
    return ",".join(str(d) for d in t.shape)


def main():
    try:
        import torch
        from torch import nn
    except ImportError:
        print("torch: not importable", file=sys.stderr)
        return 3

    seed = int(sys.argv[1])
    print("torch", torch.__version__)
    print("gain", float(torch.nn.init.calculate_gain("leaky_relu", math.sqrt(5))).hex())

    for index, spec in enumerate(sys.argv[2:]):
        layers, fin, width, fout, bias = (int(x) for x in spec.split(","))
        torch.manual_seed(seed)
        model = nn.Module()
        sizes = [fin] + [width] * (layers - 1) + [fout]
        model.layers = nn.ModuleList(
            nn.Linear(sizes[i], sizes[i + 1], bias=bool(bias)) for i in range(layers))
        print("model", index)
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(p)
            else:
                fan_in = "-"
            lo, hi = float(p.min()), float(p.max())
            print("param", name, shape(p), fan_in, lo.hex(), hi.hex())

    for name, p in nn.Linear(5, 3).named_parameters():
        print("convention linear", name, shape(p))
    for name, p in nn.Embedding(7, 4).named_parameters():
        print("convention embedding", name, shape(p))
    for name, p in nn.LayerNorm(4).named_parameters():
        value = "1" if bool((p == 1).all()) else "0" if bool((p == 0).all()) else "mixed"
        print("convention layernorm", name, shape(p), value)
    return 0


if __name__ == "__main__":
    sys.exit(main())
