#!/usr/bin/python3
"""The twinsim Python module against Debian's PyTorch (python3-torch) and the twinsim command.

Imports the built extension, reads small torch modules (on the meta device, and a real one that
must stay untouched) with model_from_module, checks init properties that hold and fail, bad
requests (ValueError with the command line's message), check_init's dict against `twinsim init
--json`, place, fit against `twinsim fit --json`, and runs examples/pytest_init_parity.py as a script.

Usage (from Bazel): twinsim_test.py TWINSIM EXAMPLE
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))  # runfiles' python/: holds twinsim/
sys.path.insert(0, HERE)

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

import twinsim  # noqa: E402

TWINSIM, EXAMPLE = sys.argv[1:3]


def expect_value_error(prefix, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except ValueError as e:
        assert str(e).startswith(prefix), "got %r, wanted a message starting %r" % (str(e), prefix)
        assert "\n" not in str(e), str(e)
        return
    raise AssertionError("no ValueError; wanted %r" % prefix)


class Block(nn.Module):
    def __init__(self, hidden, device=None):
        super().__init__()
        self.ln = nn.LayerNorm(hidden, device=device)
        self.fc1 = nn.Linear(hidden, 2 * hidden, device=device)
        self.fc2 = nn.Linear(2 * hidden, hidden, device=device)


class Net(nn.Module):
    def __init__(self, hidden=8, device=None):
        super().__init__()
        self.embed = nn.Embedding(32, hidden, device=device)
        self.layers = nn.ModuleList([Block(hidden, device), Block(hidden, device)])
        self.head = nn.Linear(hidden, 32, bias=False, device=device)
        self.head.weight = self.embed.weight  # tied


TP = {"*.fc1.*": "column", "*.fc2.weight": "row", "embed.weight": "vocab"}


def test_model_from_module():
    spec = twinsim.model_from_module(Net(device="meta"), tp=TP)
    torch_count = sum(p.numel() for p in Net(device="meta").parameters())
    assert spec.num_params == torch_count, (spec.num_params, torch_count)
    assert spec.name == "Net" and spec.num_layers == 2, spec
    assert spec.param_names[:3] == ["embed.weight", "layers.0.ln.weight", "layers.0.ln.bias"]
    rows = {p["name"]: p for p in spec.to_param_list()["params"]}
    assert rows["layers.0.fc1.weight"]["init"].startswith("kaiming_uniform:"), rows
    assert rows["layers.1.fc1.weight"]["tp"] == "column", rows
    assert rows["head.weight"]["tied_to"] == "embed.weight", rows
    assert "Net" in repr(spec)
    # A factory is built on the meta device with its init calls recorded, as dump-params does.
    assert twinsim.model_from_module(lambda: Net(), tp=TP).to_param_list() == spec.to_param_list()
    # A real module is read, never re-initialized.
    real = Net()
    before = [p.detach().clone() for p in real.parameters()]
    assert twinsim.model_from_module(real, tp=TP).num_params == spec.num_params
    assert all(torch.equal(a, b) for a, b in zip(before, real.parameters()))
    expect_value_error("--tp pattern 'nothing.*' matches no parameter",
                       twinsim.model_from_module, Net(device="meta"), tp={"nothing.*": "row"})


def test_check_init_holds_and_fails():
    spec = twinsim.model_from_module(Net(device="meta"), tp=TP)
    counter = twinsim.check_init(spec, tp=2, policy="counter")
    assert counter.holds("parity") and counter.holds("distinct"), counter
    assert counter.broken_claims == [], counter
    dtensor = twinsim.check_init(spec, tp=2, policy="dtensor", checks="parity,replica")
    assert not dtensor.holds("parity"), dtensor
    assert dtensor.holds("replica"), dtensor
    assert "parity=fails" in repr(dtensor), repr(dtensor)
    expect_value_error("unknown property 'parrity'", dtensor.holds, "parrity")
    expect_value_error("property 'distinct' was not checked", dtensor.holds, "distinct")
    # Megatron's additive seeds at tp=2 with a layout keyword: its claims are reported, not raised.
    megatron = twinsim.check_init("tiny-mlp", tp=2, dp=2, policy="megatron", seed=1234,
                                  checks=["replica", "distinct"], mesh="megatron")
    assert megatron.policies == ["megatron"]
    assert megatron.to_dict()["seed"] == 1234


def test_bad_requests_raise_the_command_lines_message():
    expect_value_error("--tp: expected a positive integer, got '0'",
                       twinsim.check_init, "tiny-mlp", tp=0)
    expect_value_error("--policy: unknown seed policy 'bogus'",
                       twinsim.check_init, "tiny-mlp", policy="bogus")
    expect_value_error("--policy: 'counter' given twice",
                       twinsim.check_init, "tiny-mlp", policy=["counter", "counter"])
    expect_value_error("--model: unknown model 'no-such-model'",
                       twinsim.check_init, "no-such-model")
    expect_value_error("--cluster: required with --backend sim",
                       twinsim.check_init, "tiny-mlp", backend="sim")
    expect_value_error("--check: unknown property 'parrity'",
                       twinsim.check_init, "tiny-mlp", checks="parrity")
    expect_value_error("--mesh: expected 'megatron' or 'torchtitan', got 'grid'",
                       twinsim.check_init, "tiny-mlp", mesh="grid")
    expect_value_error("--seed: expected an unsigned 64-bit integer",
                       twinsim.check_init, "tiny-mlp", seed=-1)
    expect_value_error("--dp-shard: give N with --dp-replicate",
                       twinsim.check_init, "tiny-mlp", dp_shard="dp", dp_replicate=2)
    try:
        twinsim.check_init("tiny-mlp", tpp=2)
    except TypeError:
        pass
    else:
        raise AssertionError("an unknown keyword was accepted")


def test_to_dict_is_what_the_command_prints():
    args = ["--model", "tiny-mlp", "--tp", "2", "--dp", "2", "--policy", "counter", "--seed", "9",
            "--check", "parity,replica,init-fits"]
    line = subprocess.run([TWINSIM, "init"] + args + ["--json"], check=True,
                          stdout=subprocess.PIPE, text=True).stdout
    result = twinsim.check_init("tiny-mlp", tp=2, dp=2, policy="counter", seed=9,
                                checks="parity,replica,init-fits")
    assert json.loads(line) == result.to_dict(), (line, result.to_dict())
    assert list(json.loads(line)) == list(result.to_dict())  # the same keys in the same order
    both = twinsim.check_init("tiny-mlp", tp=2, policy="counter,dtensor", checks="parity")
    assert [d["policy"] for d in both.to_dict()] == ["counter", "dtensor"]


def test_place():
    reports = twinsim.place("gpt2:n_layer=2,n_embd=64,n_head=4,vocab_size=512", "v100-32g",
                            policy="cuda,cpu", batch=2, seq=64)
    assert [r["policy"] for r in reports] == ["cuda", "cpu"], reports
    assert all(r["fits"] for r in reports), reports
    expect_value_error("--cluster: ", twinsim.place, "tiny-mlp", "no-such-cluster")


def test_fit():
    rows = twinsim.fit("gpt2:n_layer=2,n_embd=64,n_head=4,vocab_size=512", "v100-32g", 1,
                       policy="zero2,fsdp2", seq=64, max_batch=8)
    assert [r["policy"] for r in rows] == ["zero2", "fsdp2"], rows
    # A tiny model on a 32 GB GPU: the search reaches its cap in every mode.
    assert all(r["fits"] and r["max_batch"]["none"] == 8 for r in rows), rows
    cli = subprocess.run([TWINSIM, "fit", "--model", "gpt2:n_layer=2,n_embd=64,n_head=4,vocab_size=512",
                          "--cluster", "v100-32g", "--gpus", "1", "--policy", "zero2,fsdp2",
                          "--seq", "64", "--max-batch", "8", "--json"],
                         stdout=subprocess.PIPE, text=True, check=True)
    assert [json.loads(line) for line in cli.stdout.splitlines()] == rows, cli.stdout
    expect_value_error("--gpus: ", twinsim.fit, "tiny-mlp", "v100-32g", 0)


def test_example_runs_as_a_script():
    env = dict(os.environ, PYTHONPATH=HERE)
    run = subprocess.run([sys.executable, EXAMPLE], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    assert run.returncode == 0, run.stdout
    assert "passed test_dtensor_shards_are_not_single_device_init" in run.stdout, run.stdout
    assert "parity=holds*" in run.stdout, run.stdout


if __name__ == "__main__":
    for name, test in list(globals().items()):
        if name.startswith("test_") and callable(test):
            test()
            print("ok", name, flush=True)
