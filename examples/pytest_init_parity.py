#!/usr/bin/python3
"""A check a training stack's CI would run: does our model, split over tensor-parallel ranks,
initialize exactly as it would on one device?

twinsim reads the model's parameters (on PyTorch's meta device: nothing is allocated), runs the
seed policy on every rank of the layout and compares the union of the shards with single-device
init, bit for bit. Run it with pytest, or as a script:

    bazel build //python:twinsim
    PYTHONPATH=python pytest examples/pytest_init_parity.py
    PYTHONPATH=python python3 examples/pytest_init_parity.py
"""
import torch
import torch.nn as nn

import twinsim


class Mlp(nn.Module):
    """A Megatron-style MLP block: fc1 split by columns, fc2 by rows."""

    def __init__(self, hidden=16, device=None):
        super().__init__()
        self.norm = nn.LayerNorm(hidden, device=device)
        self.fc1 = nn.Linear(hidden, 4 * hidden, device=device)
        self.fc2 = nn.Linear(4 * hidden, hidden, device=device)


class Net(nn.Module):
    def __init__(self, layers=2, hidden=16, device=None):
        super().__init__()
        self.layers = nn.ModuleList(Mlp(hidden, device) for _ in range(layers))
        self.head = nn.Linear(hidden, 8, bias=False, device=device)


# How the training stack splits the model over tensor-parallel ranks.
TP = {"*.fc1.weight": "column", "*.fc1.bias": "column", "*.fc2.weight": "row"}


def model():
    return twinsim.model_from_module(Net(device="meta"), tp=TP)


def test_counter_init_is_single_device_init_at_tp2():
    result = twinsim.check_init(model(), tp=2, policy="counter", checks="parity,replica")
    assert result.holds("parity"), result


def test_counter_init_survives_pipeline_and_data_parallel():
    result = twinsim.check_init(model(), tp=2, pp=2, dp=2, policy="counter")
    assert not result.broken_claims, result


def test_dtensor_shards_are_not_single_device_init():
    # DTensor draws each shard from its own offset of one stream: distinct shards, but not the
    # single-device values (it does not claim parity). A stack that needs parity must not rely
    # on it.
    result = twinsim.check_init(model(), tp=2, policy="dtensor", checks="parity,distinct")
    assert not result.holds("parity"), result
    assert result.holds("distinct"), result


if __name__ == "__main__":
    for name, test in sorted(globals().items()):
        if name.startswith("test_") and callable(test):
            test()
            print("passed", name)
    print(twinsim.check_init(model(), tp=2, policy="counter,dtensor", checks="parity,distinct"))
