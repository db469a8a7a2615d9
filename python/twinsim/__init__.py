"""twinsim from Python: check a model's distributed parameter init without a command line.

    import twinsim
    result = twinsim.check_init("tiny-mlp", tp=2, policy="counter")
    assert result.holds("parity")
    print(result)            # one line per policy: each property's verdict (* = claimed)
    result.to_dict()         # what `twinsim init --json` prints

The C++ library beneath (harness/, the same RunInit and RunPlace the `twinsim` command calls)
is the extension module _twinsim. A bad request raises ValueError with the command line's
one-line message ("--tp: expected a positive integer, got '0'").

model_from_module reads a torch.nn.Module's parameters (shapes, dtypes, inits, tensor-parallel
splits) into a ModelSpec in memory, with tools/dump-params' own code: the same parameter list
that `tools/dump-params` writes to a file.
"""
import importlib.machinery
import importlib.util
import json
import os
import warnings

try:
    from twinsim import _twinsim
except ImportError:
    # Imported from the source tree (PYTHONPATH=python): the extension is where
    # `bazel build //python:twinsim` puts it, under the workspace's bazel-bin.
    __path__.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir,
                                 os.pardir, "bazel-bin", "python", "twinsim"))
    from twinsim import _twinsim

ModelSpec = _twinsim.ModelSpec
InitResult = _twinsim.InitResult

__all__ = ["check_init", "place", "model_from_module", "model_spec", "ModelSpec", "InitResult"]

_UINT64_MAX = (1 << 64) - 1


def model_spec(text):
    """The model named by `text`, as --model takes it: a preset ("gpt2-small"),
    FAMILY[:key=value,...] ("gpt2:n_layer=2,n_embd=128,n_head=4") or a model file PATH.json."""
    return _twinsim.model_spec(text)


def _int_or_none(name, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("%s: expected an int, got %s" % (name, type(value).__name__))
    return value


def _names(option, value):
    """'a,b' or ['a', 'b'] -> ['a', 'b'] (empty items kept, for the library to report)."""
    if isinstance(value, str):
        return value.split(",")
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise TypeError("%s: expected a comma-separated string or a list of names, got %r"
                    % (option, value))


def _bytes(option, value):
    """A size in bytes: an int >= 1 (None: the default)."""
    value = _int_or_none(option, value)
    if value is not None and not 1 <= value <= _UINT64_MAX:
        raise ValueError("%s: expected a positive size, got '%d'" % (option, value))
    return value


def _model(model):
    if isinstance(model, (str, ModelSpec)):
        return model
    raise TypeError("model: expected a preset or spec string, a model file path, or a ModelSpec "
                    "(twinsim.model_from_module); got %s" % type(model).__name__)


def _layout(tp, pp, dp, cp, ep, etp, vpp, dp_shard, dp_replicate, mesh, partition,
            vocab_divisible_by):
    layout = {"mesh": mesh, "partition": partition}
    for name, value in (("tp", tp), ("pp", pp), ("dp", dp), ("cp", cp), ("ep", ep),
                        ("etp", etp), ("vpp", vpp), ("dp_replicate", dp_replicate),
                        ("vocab_divisible_by", vocab_divisible_by)):
        value = _int_or_none(name, value)
        if value is not None:
            layout[name] = value
    if dp_shard in ("dp", True):  # --dp-shard alone: one sharded group of every DP rank
        layout["dp_shard_whole"] = True
    elif dp_shard is not None:
        layout["dp_shard"] = _int_or_none("dp_shard", dp_shard)
    return layout


def check_init(model, tp=1, pp=1, dp=None, policy="counter", *, cp=None, ep=None, etp=None,
               vpp=None, dp_shard=None, dp_replicate=None, mesh="megatron", partition="layers",
               vocab_divisible_by=None, seed=0, checks="all", init_device=None, gpu="h100",
               device_memory=None, host_memory=None, backend="host", cluster=None,
               timing_only=False, trace=None, max_memory=None, dump=None):
    """Runs seed policies on every rank of a layout and checks the init properties, as
    `twinsim init` does (the keywords are its options: --tp 2 is tp=2, --dp-shard is dp_shard).

    model     a preset or spec string, a model file path, or a ModelSpec (model_from_module)
    dp        None: 1, or dp_replicate x dp_shard when those are given (as the command line)
    dp_shard  an int, or "dp" / True for one sharded group of every DP rank
    policy    seed policy names, "a,b" or a list, or "all"
    checks    properties: "parity,replica", a list, or "all" (parity, replica, distinct,
              determinism, init-fits, distribution)
    seed      the root seed, 0 <= seed < 2**64
    *_memory  bytes per rank (ints)
    backend   "host" (ranks as threads) or "sim" (with cluster="dgx-h100:nodes=2")

    Returns an InitResult: .holds("parity"), .to_dict(), .broken_claims. A broken claim is a
    result, not an exception. Raises ValueError for a bad request, with the command line's
    message.
    """
    seed = _int_or_none("seed", seed)
    if not 0 <= seed <= _UINT64_MAX:
        raise ValueError("--seed: expected an unsigned 64-bit integer (decimal or 0x hex), got "
                         "'%d'" % seed)
    if init_device is not None and not isinstance(init_device, str):
        raise TypeError("init_device: expected 'cpu' or 'cuda'")
    return _twinsim.check_init(
        _model(model),
        _layout(tp, pp, dp, cp, ep, etp, vpp, dp_shard, dp_replicate, mesh, partition,
                vocab_divisible_by),
        _names("--policy", policy), seed, _names("--check", checks), init_device, gpu,
        _bytes("--device-memory", device_memory), _bytes("--host-memory", host_memory), backend,
        cluster or "", bool(timing_only), trace or "", _bytes("--max-memory", max_memory),
        dump or "")


def place(model, cluster, tp=1, pp=1, dp=None, policy="all", *, cp=None, ep=None, etp=None,
          vpp=None, dp_shard=None, dp_replicate=None, mesh="megatron", partition="layers",
          vocab_divisible_by=None, batch=None, seq=None, gpu_memory=None, host_memory=None,
          backend="accounting", rank=0):
    """One rank's training step under placement policies, as `twinsim place --json`: a list
    with one dict per policy (peak memory and its breakdown, OOM, PCIe traffic). backend
    "accounting" (default here: no simulation), "sim" or "host"."""
    return _twinsim.place(
        _model(model),
        _layout(tp, pp, dp, cp, ep, etp, vpp, dp_shard, dp_replicate, mesh, partition,
                vocab_divisible_by),
        cluster, _names("--policy", policy), _int_or_none("batch", batch),
        _int_or_none("seq", seq), _bytes("--gpu-memory", gpu_memory),
        _bytes("--host-memory", host_memory), backend, _int_or_none("rank", rank))


def fit(model, cluster, gpus, policy=None, *, seq=2048, tp=None, pp=None, max_batch=1024):
    """What fits on `gpus` GPUs of `cluster`, as `twinsim fit --json`: a list with one dict per
    (layout, memory system): the largest micro-batch with no, selective and full recomputation,
    whether offload is needed, and the peak and its breakdown at the best batch. policy: names
    (a list or "a,b"); None: zero1, zero2, zero3, fsdp2, megatron-distopt, auto."""
    if not isinstance(model, str):
        raise TypeError("model: fit takes a preset, spec string or model file path, got %s"
                        % type(model).__name__)
    if gpus is None:
        raise TypeError("gpus: expected an int, got None")
    return _twinsim.fit(model, cluster, _int_or_none("gpus", gpus),
                        _names("--policy", policy) if policy is not None else [],
                        _int_or_none("seq", seq), _int_or_none("tp", tp),
                        _int_or_none("pp", pp), _int_or_none("max_batch", max_batch))


# --- model_from_module ---------------------------------------------------------------------------

def _dump_params():
    """tools/dump-params as a module (it is a script without .py): found next to this package
    in the source tree and in Bazel's runfiles alike (python/twinsim/../../tools/)."""
    here = os.path.dirname(os.path.abspath(__file__))
    path = os.path.join(here, os.pardir, os.pardir, "tools", "dump-params")
    loader = importlib.machinery.SourceFileLoader("twinsim_dump_params", path)
    spec = importlib.util.spec_from_loader("twinsim_dump_params", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _reset_inits(torch, dump_params, module):
    """The torch.nn.init calls that `module`'s layers make when initialized: each submodule's
    reset_parameters() runs on meta stand-ins of its parameters under dump-params'
    InitRecorder, so the module's own tensors are never touched. A parameter shared by several
    submodules (tied weights) keeps the init of the submodule that registers it first, the
    name named_parameters() gives it, as when a constructor ties a later layer to an earlier
    one. Keyed by id of the real parameter, as the recorder keys them."""
    owner = {}  # id(real parameter) -> the submodule it is first registered in
    for sub in module.modules():
        for p in sub._parameters.values():
            if p is not None:
                owner.setdefault(id(p), sub)
    recorder = dump_params.InitRecorder(torch)
    real_of = {}  # id(recorded stand-in) -> id(real parameter)
    alive = []    # every stand-in, so that no id is reused while recording
    with recorder:
        for sub in module.modules():
            reset = getattr(sub, "reset_parameters", None)
            if not callable(reset):
                continue
            saved = dict(sub._parameters)
            try:
                for name, p in saved.items():
                    if p is None:
                        continue
                    meta = torch.nn.Parameter(torch.empty_like(p, device="meta"),
                                              requires_grad=p.requires_grad)
                    alive.append(meta)
                    if owner[id(p)] is sub:
                        real_of[id(meta)] = id(p)
                    sub._parameters[name] = meta
                reset()
            finally:
                sub._parameters.clear()
                sub._parameters.update(saved)
    return {real_of[k]: v for k, v in recorder.calls.items() if k in real_of}


def model_from_module(module, *, tp=None, init=None, name=None, num_heads=None,
                      layer_regex=None, expert_regex=None, kwargs=None):
    """A torch.nn.Module's parameters as a ModelSpec, without a file: the parameter list that
    tools/dump-params writes, built by its code.

    module   an nn.Module (on any device, "meta" included: nothing is allocated or changed;
             inits are those its layers' reset_parameters() make), or a factory (a callable
             returning one, called with **kwargs) which is then built on the meta device with
             every torch.nn.init call recorded, exactly as dump-params --module does; use a
             factory when your own code initializes parameters (self.apply(_init_weights)).
    tp       {pattern: "column" | "row" | "vocab" | "replicated" (":DIM")}, as --tp
    init     {pattern: spec}, as --init (e.g. {"*.bias": "constant:value=0.0"})
    name     the model's name (default: the module's class)
    """
    import torch

    dp = _dump_params()
    try:
        if isinstance(module, torch.nn.Module):
            calls = _reset_inits(torch, dp, module)
        elif callable(module):
            recorder = dp.InitRecorder(torch)
            try:
                with recorder, dp.meta_device(torch):
                    module = module(**(kwargs or {}))
            except dp.InputError:
                raise
            except Exception as e:
                dp.fail("the factory failed: %s: %s"
                        % (type(e).__name__, (str(e).splitlines() or [""])[0]))
            if not isinstance(module, torch.nn.Module):
                dp.fail("the factory returned %s, not a torch.nn.Module" % type(module).__name__)
            calls = recorder.calls
        else:
            raise TypeError("model_from_module: expected a torch.nn.Module or a factory, got %s"
                            % type(module).__name__)
        doc = dp.param_list(
            torch, module, calls,
            tp=["%s=%s" % item for item in (tp or {}).items()],
            init=["%s=%s" % item for item in (init or {}).items()],
            layer_regex=dp.DEFAULT_LAYER_REGEX if layer_regex is None else layer_regex,
            expert_regex=dp.DEFAULT_EXPERT_REGEX if expert_regex is None else expert_regex,
            name=name, num_heads=num_heads,
            source={"tool": "twinsim.model_from_module", "torch": torch.__version__},
            warn=lambda w: warnings.warn(w, stacklevel=3))
    except dp.InputError as e:
        raise ValueError(str(e)) from None
    return _twinsim.model_from_param_list(json.dumps(doc), doc["name"])
