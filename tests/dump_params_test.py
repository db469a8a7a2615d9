#!/usr/bin/python3
"""tools/dump-params through to twinsim, with Debian's PyTorch (python3-torch) as the oracle.

For modules defined here (an embedding + blocks + tied head, a conv net, a module with its own
inits, one with an uninitialized nn.Parameter): dump-params writes the parameter list on the
meta device; `twinsim show model --json` counts what torch counts; `twinsim init --policy
torch-serial --init-device cpu --dump` reproduces, bit for bit, what torch.manual_seed(S) and
the module's own constructor give on the CPU; a tensor-parallel layout of the dump keeps
parity; bad input gets exit 2 and one line.

Usage (from Bazel): dump_params_test.py TWINSIM DUMP_PARAMS
"""
import json
import math
import os
import random
import subprocess
import sys
import tempfile

import numpy
import torch
import torch.nn as nn

TWINSIM, DUMP_PARAMS = sys.argv[1:3] if len(sys.argv) >= 3 else (None, None)
PY = sys.executable


# --- modules the test dumps (dump-params loads this file by path) -----------------------------
class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.norm = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)


class Net(nn.Module):
    def __init__(self, d=16, n=3, vocab=64):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.layers = nn.ModuleList([Block(d) for _ in range(n)])
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.embed.weight  # tied, as GPT-2's lm_head


class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.bn = nn.BatchNorm2d(8)
        self.blocks = nn.ModuleList([nn.Conv2d(8, 8, 3, bias=False) for _ in range(2)])
        self.fc = nn.Linear(8, 10)


class OwnInit(nn.Module):
    """Re-initializes with nn.init after the defaults, as many user models do."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(32, 32)
        nn.init.normal_(self.proj.weight, std=0.02)
        nn.init.zeros_(self.proj.bias)
        self.gate = nn.Linear(32, 8, bias=False, dtype=torch.bfloat16)
        nn.init.xavier_uniform_(self.gate.weight, gain=0.5)


class RawParam(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.pos = nn.Parameter(torch.zeros(10, 4))


def build_net(**kwargs):
    return Net(**kwargs)


def build_conv():
    return ConvNet()


def build_own_init():
    return OwnInit()


def build_raw():
    return RawParam()


def not_a_module():
    return 42


# --- the test ---------------------------------------------------------------------------------
TMP = os.environ.get("TEST_TMPDIR") or tempfile.mkdtemp()
HERE = os.path.abspath(__file__)
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL: " + what, file=sys.stderr)


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def dump(factory, out, *extra, kwargs=None):
    cmd = [PY, DUMP_PARAMS, "--file", HERE + ":" + factory, "-o", out, *extra]
    if kwargs is not None:
        cmd += ["--kwargs", json.dumps(kwargs)]
    return run(cmd)


def torch_params(module):
    """Unique parameters in named_parameters() order, as torch counts them."""
    return list(module.named_parameters())


def twinsim_values(dump_dir):
    """{param name: float tensor} of rank 0's whole shards in a tp=pp=dp=1 dump."""
    index = json.load(open(os.path.join(dump_dir, "index.json")))
    (rank,) = index["ranks"]
    out = {}
    for s in rank["shards"]:
        raw = open(os.path.join(dump_dir, s["file"]), "rb").read()
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[s["dtype"]]
        t = torch.frombuffer(bytearray(raw), dtype=dtype).reshape(s["shape"])
        out[s["param"]] = t
    return out


def check_parity(name, factory, path, kwargs=None):
    seed = random.randrange(1 << 31)
    d = os.path.join(TMP, name + "-dump")
    rc, out, err = run([TWINSIM, "init", "--model", path, "--policy", "torch-serial",
                        "--init-device", "cpu", "--seed", str(seed), "--dump", d])
    check(rc == 0, "%s: twinsim init exit %d: %s" % (name, rc, err.strip()))
    if rc != 0:
        return
    ours = twinsim_values(d)
    inits = {p["name"]: p["init"] for p in json.load(open(path))["params"]}
    torch.manual_seed(seed)
    module = globals()[factory](**(kwargs or {}))
    for pname, p in torch_params(module):
        if pname not in ours:
            check(False, "%s: %s missing from twinsim's dump" % (name, pname))
            continue
        mine, theirs = ours[pname], p.detach()
        if mine.shape != theirs.shape or mine.dtype != theirs.dtype:
            check(False, "%s: %s is %s %s in twinsim's dump, %s %s in torch" % (
                name, pname, list(mine.shape), mine.dtype, list(theirs.shape), theirs.dtype))
            continue
        if inits[pname].startswith("normal"):
            # torch's AVX2 normal_ is not its scalar one: kernels/torch/cpu_generator.h, Note
            # [normal_ under AVX2], bounds the distance (and twinsim matches the scalar path
            # bit for bit).
            spec = dict(kv.split("=") for kv in inits[pname].split(":")[1].split(","))
            scale = torch.maximum(theirs.abs(), torch.tensor(max(abs(float(spec["mean"])), float(spec["std"]))))
            ulp = torch.from_numpy(numpy.spacing(scale.float().numpy()))
            check(bool(((mine.float() - theirs.float()).abs() <= 128 * ulp).all()),
                  "%s: %s (normal) is further from torch than 128 ulp (seed %d)" % (name, pname, seed))
            continue
        bits = torch.int32 if mine.dtype == torch.float32 else torch.int16
        check(torch.equal(mine.view(bits), theirs.contiguous().view(bits)),
              "%s: %s differs from torch (seed %d): max |diff| %g" % (
                  name, pname, seed, (mine.float() - theirs.float()).abs().max().item()))


def show_count(path):
    rc, out, err = run([TWINSIM, "show", "model", "--model", path, "--json"])
    check(rc == 0, "show model %s: exit %d: %s" % (path, rc, err.strip()))
    return json.loads(out)["num_params"] if rc == 0 else None


def main():
    # 1. A transformer-shaped net with a tied head and TP declarations.
    net = os.path.join(TMP, "net.json")
    rc, out, err = dump("build_net", net, "--tp", "layers.*.fc1.*=column",
                        "--tp", "layers.*.fc2.weight=row", "--tp", "embed.weight=vocab",
                        "--tp", "head.weight=vocab", kwargs={"d": 16, "n": 3})
    check(rc == 0, "dump net: exit %d: %s" % (rc, err.strip()))
    doc = json.load(open(net))
    names = [p["name"] for p in doc["params"]]
    module = Net(d=16, n=3)
    expected = [n for n, _ in module.named_parameters()]
    check(names == expected + ["head.weight"],
          "net: names/order %s, want named_parameters() then the tied head" % names)
    head = doc["params"][-1]
    check(head.get("tied_to") == "embed.weight", "net: head not tied: %s" % head)
    check([p.get("layer", -1) for p in doc["params"]].count(2) == 6, "net: layer indices")
    check(show_count(net) == sum(p.numel() for p in module.parameters()),
          "net: twinsim's num_params differs from torch's")
    check_parity("net", "build_net", net, {"d": 16, "n": 3})
    # The TP declarations in use: at tp=2 Megatron's CPU init (full weights, then slices)
    # keeps parity; over tp=2 x pp=2 every policy keeps every property it claims (exit 0).
    rc, out, err = run([TWINSIM, "init", "--model", net, "--tp", "2", "--vocab-divisible-by", "1",
                        "--seed", "5", "--policy", "megatron-cpu", "--check", "parity", "--json"])
    verdicts = [p["verdict"] for p in json.loads(out)["properties"]] if rc == 0 else []
    check(verdicts == ["holds"], "net tp=2 megatron-cpu parity: exit %d %s %s" % (rc, verdicts, err.strip()))
    rc, out, err = run([TWINSIM, "init", "--model", net, "--tp", "2", "--pp", "2", "--dp", "2",
                        "--seed", "5", "--policy", "all"])
    check(rc == 0, "net tp=2 pp=2 dp=2, all policies: exit %d %s" % (rc, err.strip()[-300:]))

    # 2. Convolutions (fans with a receptive field) and BatchNorm.
    conv = os.path.join(TMP, "conv.json")
    rc, out, err = dump("build_conv", conv)
    check(rc == 0, "dump conv: exit %d: %s" % (rc, err.strip()))
    check(show_count(conv) == sum(p.numel() for p in ConvNet().parameters()), "conv: count")
    check_parity("conv", "build_conv", conv)

    # 3. A module's own nn.init calls are what is recorded (the last call), with a warning for
    # the parameters initialized twice; bf16 stays bf16.
    own = os.path.join(TMP, "own.json")
    rc, out, err = dump("build_own_init", own)
    check(rc == 0, "dump own: exit %d: %s" % (rc, err.strip()))
    inits = {p["name"]: p["init"] for p in json.load(open(own))["params"]}
    check(inits.get("proj.weight") == "normal:mean=0.0,std=0.02", "own: %s" % inits)
    check(inits.get("proj.bias") == "constant:value=0.0", "own: %s" % inits)
    check(inits.get("gate.weight") == "xavier_uniform:gain=0.5", "own: %s" % inits)
    check("proj.weight was initialized 2 times" in err, "own: no double-init warning: %s" % err)
    dtypes = {p["name"]: p["dtype"] for p in json.load(open(own))["params"]}
    check(dtypes.get("gate.weight") == "bf16", "own: dtype %s" % dtypes)
    check(show_count(own) == 32 * 32 + 32 + 32 * 8, "own: count")

    # 4. Refusals: exit 2, one line, and no file left behind.
    raw = os.path.join(TMP, "raw.json")
    cases = [
        (("build_raw", raw), "no init known for 1 parameter(s) (pos)"),
        (("build_net", raw, "--tp", "*.fc1.weight=diagonal"), "unknown split 'diagonal'"),
        (("build_net", raw, "--tp", "nothing.*=row"), "--tp pattern 'nothing.*' matches no parameter"),
        (("build_net", raw, "--tp", "fc1"), "expected PATTERN=KIND[:DIM]"),
        (("not_a_module", raw), "not a torch.nn.Module"),
        (("no_such_factory", raw), "has no attribute 'no_such_factory'"),
    ]
    for args, message in cases:
        rc, out, err = dump(*args)
        lines = err.strip().splitlines()
        check(rc == 2 and len(lines) == 1 and message in err,
              "refusal %s: exit %d, stderr %r, want %r" % (args, rc, err, message))
        check(not os.path.exists(raw), "refusal %s left %s" % (args, raw))
    rc, out, err = run([PY, DUMP_PARAMS, "--file", "/nonexistent/m.py:f", "-o", raw])
    check(rc == 2 and "no such file" in err, "missing --file: %d %s" % (rc, err))
    rc, out, err = dump("build_raw", raw, "--init", "pos=constant:value=0")
    check(rc == 0, "raw with --init: exit %d %s" % (rc, err))
    rc, out, err = run([PY, DUMP_PARAMS, "--help"])
    check(rc == 0 and "--tp PATTERN=KIND[:DIM]" in out, "--help")

    # 5. twinsim on a damaged list: exit 2, one line naming the file and the parameter.
    bad = os.path.join(TMP, "bad.json")
    broken = json.load(open(net))
    broken["params"][3]["shape"] = [64, 0]
    json.dump(broken, open(bad, "w"))
    rc, out, err = run([TWINSIM, "init", "--model", bad, "--policy", "counter"])
    check(rc == 2 and "params[3] ('layers.0.fc1.weight')" in err and
          len(err.strip().splitlines()) == 1, "damaged list: exit %d %r" % (rc, err))

    if failures:
        print("%d failure(s)" % len(failures), file=sys.stderr)
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
