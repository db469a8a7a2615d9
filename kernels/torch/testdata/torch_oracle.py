#!/usr/bin/python3
"""PyTorch's CPU generator outputs as hex floats, for kernels/torch/torch_oracle_test.

Usage: torch_oracle.py REQUESTS_FILE

Each line of REQUESTS_FILE is one request; floats are given as Python float.hex() strings so
they reach torch unrounded:
    ID rand SEED NUMEL
    ID uniform SEED NUMEL FROM TO
    ID normal SEED NUMEL MEAN STD
    ID linear SEED OUT_FEATURES IN_FEATURES BIAS(0|1)
Every request starts with torch.manual_seed(SEED) on a fresh float32 CPU tensor (or module).

Output: a header, then one line per tensor, values as float.hex():
    capability <what torch.__config__.show() reports, e.g. AVX2 or NO AVX>
    torch <torch.__version__>
    ID NAME COUNT HEX...          (NAME: out, or weight / bias for linear)
Exit status 3 when torch cannot be imported (the C++ test skips before that happens).
Must run under Debian's /usr/bin/python3 (python3-torch); set ATEN_CPU_CAPABILITY to choose
ATen's kernel build.
"""

import sys
import warnings


def cpu_capability(torch):
    for line in torch.__config__.show().splitlines():
        if "CPU capability usage:" in line:
            return line.split(":", 1)[1].strip()
    return "unknown"


def emit(out, request_id, name, tensor):
    values = tensor.detach().reshape(-1).tolist()
    out.write("%s %s %d %s\n" % (request_id, name, len(values),
                                 " ".join(float(v).hex() for v in values)))


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    try:
        import torch
    except ImportError as e:
        sys.stderr.write("torch_oracle.py: cannot import torch (%s); install python3-torch\n" % e)
        return 3
    warnings.simplefilter("ignore")  # zero-element init warnings
    torch.set_num_threads(1)
    out = sys.stdout
    out.write("capability %s\n" % cpu_capability(torch))
    out.write("torch %s\n" % torch.__version__)
    with open(argv[1]) as f:
        for line in f:
            fields = line.split()
            if not fields:
                continue
            request_id, op, seed = fields[0], fields[1], int(fields[2])
            torch.manual_seed(seed)
            if op == "rand":
                emit(out, request_id, "out", torch.rand(int(fields[3])))
            elif op == "uniform":
                t = torch.empty(int(fields[3]), dtype=torch.float32)
                t.uniform_(float.fromhex(fields[4]), float.fromhex(fields[5]))
                emit(out, request_id, "out", t)
            elif op == "normal":
                t = torch.empty(int(fields[3]), dtype=torch.float32)
                t.normal_(float.fromhex(fields[4]), float.fromhex(fields[5]))
                emit(out, request_id, "out", t)
            elif op == "linear":
                m = torch.nn.Linear(int(fields[4]), int(fields[3]), bias=fields[5] == "1")
                emit(out, request_id, "weight", m.weight)
                if m.bias is not None:
                    emit(out, request_id, "bias", m.bias)
            else:
                sys.stderr.write("torch_oracle.py: unknown op %r\n" % op)
                return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
