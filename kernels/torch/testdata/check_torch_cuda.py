#!/usr/bin/env python3
"""Checks twinsim's model of PyTorch's CUDA uniform_ against a real GPU.

Runs, on the GPU this machine has,
    torch.cuda.manual_seed(SEED)
    x = torch.empty(NUMEL, device='cuda').uniform_(FROM, TO)
and compares x bit for bit with the model's values (kernels/torch/cuda_layout.h), given
either as a file of C99 %a hex floats, one per line (--model-file), or produced by running
the twinsim CLI (--twinsim BIN, which runs `BIN rng torch-cuda --seed S --numel N --gpu NAME`).

The model depends on the GPU's SM count and max threads per SM; pass --gpu with the twinsim
profile name of this GPU (the script prints the device's own figures to compare with).

Needs PyTorch with CUDA (written for PyTorch 2.11). Exit status: 0 all equal, 1 some differ,
2 bad usage or unreadable input, 3 no CUDA device (nothing was checked).

Example (model values written on another machine, file carried over):
    twinsim rng torch-cuda --seed 7 --numel 1000000 --gpu h100 > model.txt
    python3 check_torch_cuda.py --seed 7 --numel 1000000 --gpu h100 --model-file model.txt
"""

import argparse
import json
import struct
import subprocess
import sys


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--seed", type=int, required=True, help="torch.cuda.manual_seed value")
    p.add_argument("--numel", type=int, required=True, help="number of float32 elements")
    p.add_argument("--gpu", required=True,
                   help="twinsim profile name of this GPU (a100, h100, h200, ...)")
    p.add_argument("--from", dest="lo", type=float, default=0.0, help="uniform_ lower bound")
    p.add_argument("--to", dest="hi", type=float, default=1.0, help="uniform_ upper bound")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model-file", help="model values, one %%a hex float per line")
    src.add_argument("--twinsim", metavar="BIN",
                     help="twinsim CLI binary to run for the model values")
    p.add_argument("--json", metavar="FILE", help="also write the result as JSON")
    p.add_argument("--show", type=int, default=10, help="mismatches to print (default 10)")
    return p.parse_args(argv)


def read_hex_floats(text, origin):
    values = []
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            values.append(float.fromhex(line))
        except ValueError:
            raise SystemExit("check_torch_cuda.py: %s line %d: not a hex float: %r"
                             % (origin, lineno, line[:40]))
    return values


def model_values(args):
    if args.model_file:
        try:
            with open(args.model_file) as f:
                return read_hex_floats(f.read(), args.model_file)
        except OSError as e:
            raise SystemExit("check_torch_cuda.py: cannot read --model-file: %s" % e)
    cmd = [args.twinsim, "rng", "torch-cuda", "--seed", str(args.seed), "--numel",
           str(args.numel), "--gpu", args.gpu]
    if (args.lo, args.hi) != (0.0, 1.0):
        cmd += ["--from", repr(args.lo), "--to", repr(args.hi)]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except OSError as e:
        raise SystemExit("check_torch_cuda.py: cannot run %s: %s" % (cmd[0], e))
    if done.returncode != 0:
        raise SystemExit("check_torch_cuda.py: `%s` failed (%d): %s"
                         % (" ".join(cmd), done.returncode, done.stderr.strip()))
    return read_hex_floats(done.stdout, "`%s`" % " ".join(cmd))


def device_info(torch):
    props = torch.cuda.get_device_properties(torch.cuda.current_device())
    return {
        "name": props.name,
        "sm_count": props.multi_processor_count,
        "max_threads_per_sm": getattr(props, "max_threads_per_multi_processor", None),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
    }


def philox_offset(torch):
    """The CUDA generator's Philox offset, from its state (seed, offset as two uint64)."""
    state = bytes(torch.cuda.get_rng_state().tolist())
    if len(state) != 16:
        return None
    return struct.unpack("<QQ", state)[1]


def main(argv):
    args = parse_args(argv)
    if args.numel < 0:
        print("check_torch_cuda.py: --numel must be >= 0", file=sys.stderr)
        return 2
    try:
        import torch
    except ImportError as e:
        print("check_torch_cuda.py: cannot import torch (%s)" % e, file=sys.stderr)
        return 3
    if not torch.cuda.is_available():
        print("check_torch_cuda.py: no CUDA device: nothing checked", file=sys.stderr)
        return 3

    model = model_values(args)
    info = device_info(torch)
    print("device: %(name)s, %(sm_count)s SMs, %(max_threads_per_sm)s max threads/SM; "
          "torch %(torch)s, CUDA %(cuda)s" % info)
    print("model profile: --gpu %s (check that its SM figures match the line above)" % args.gpu)

    torch.cuda.manual_seed(args.seed)
    offset_before = philox_offset(torch)
    x = torch.empty(args.numel, device="cuda", dtype=torch.float32).uniform_(args.lo, args.hi)
    offset_after = philox_offset(torch)
    got = x.cpu().tolist()  # float32 -> exact Python floats

    result = {"seed": args.seed, "numel": args.numel, "from": args.lo, "to": args.hi,
              "gpu_profile": args.gpu, "device": info,
              "philox_offset_before": offset_before, "philox_offset_after": offset_after}
    if offset_after is not None and offset_before is not None:
        print("philox offset: %d -> %d (advance %d; compare TorchCudaLaunch().counter_offset)"
              % (offset_before, offset_after, offset_after - offset_before))

    if len(model) != len(got):
        print("FAIL: model has %d values, torch produced %d" % (len(model), len(got)))
        result.update(status="size-mismatch", model_count=len(model))
        status = 1
    else:
        bad = [i for i, (a, b) in enumerate(zip(model, got))
               if struct.pack("<f", a) != struct.pack("<f", b)]
        for i in bad[:args.show]:
            print("  [%d] model %s  torch %s" % (i, float.hex(model[i]), float.hex(got[i])))
        if bad:
            print("FAIL: %d of %d elements differ; first at index %d"
                  % (len(bad), len(got), bad[0]))
        else:
            print("OK: all %d elements equal bit for bit" % len(got))
        result.update(status="ok" if not bad else "mismatch", mismatches=len(bad),
                      first_mismatch=bad[0] if bad else None)
        status = 0 if not bad else 1
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
