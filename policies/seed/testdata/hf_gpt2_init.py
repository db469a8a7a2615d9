#!/usr/bin/python3
"""The parameters of a GPT-2 built in Hugging Face's init order, with PyTorch's own modules.

Usage: hf_gpt2_init.py SEED N_LAYER N_EMBD VOCAB N_POSITIONS INITIALIZER_RANGE_HEX MODE
MODE: postinit (GPT2LMHeadModel(config)) or ctor (_init_weights disabled, as ColossalAI's
Lightning GPT benchmark builds it).

transformers is not installed, so the module tree is rebuilt here from torch.nn pieces with the
same attribute names and construction order as transformers' GPT-2 (modeling_gpt2.py @0010f602,
modeling_utils.py @040ba146). The draws themselves are torch's: nn.Embedding and nn.Linear
constructors, nn.init.normal_, Tensor.normal_, and Module.apply's traversal order. Prints
    capability <torch's CPU capability>
    NAME COUNT HEX...        one line per parameter, lm_head.weight last (tied to wte)
Run with ATEN_CPU_CAPABILITY=default for the normal_ path twinsim models bit for bit.
Exit status 3 when torch cannot be imported.
"""

import math
import sys


def main(argv):
    if len(argv) != 8:
        sys.stderr.write(__doc__)
        return 2
    try:
        import torch
        from torch import nn
    except ImportError as e:
        sys.stderr.write("hf_gpt2_init.py: cannot import torch (%s)\n" % e)
        return 3
    torch.set_num_threads(1)
    seed, n_layer, d, vocab, n_pos = (int(a) for a in argv[1:6])
    init_range = float.fromhex(argv[6])
    mode = argv[7]

    class Conv1D(nn.Module):  # [in, out] weight drawn N(0, 0.02), zero bias
        def __init__(self, nf, nx):
            super().__init__()
            self.weight = nn.Parameter(torch.empty(nx, nf))
            self.bias = nn.Parameter(torch.zeros(nf))
            nn.init.normal_(self.weight, std=0.02)

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("bias", torch.tril(torch.ones((n_pos, n_pos), dtype=torch.bool)))
            self.c_attn = Conv1D(3 * d, d)
            self.c_proj = Conv1D(d, d)
            self.attn_dropout = nn.Dropout(0.1)
            self.resid_dropout = nn.Dropout(0.1)

    class MLP(nn.Module):
        def __init__(self):
            super().__init__()
            self.c_fc = Conv1D(4 * d, d)
            self.c_proj = Conv1D(d, 4 * d)
            self.act = nn.GELU()
            self.dropout = nn.Dropout(0.1)

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = nn.LayerNorm(d)
            self.attn = Attention()
            self.ln_2 = nn.LayerNorm(d)
            self.mlp = MLP()

    def init_weights(module):  # GPT-2's _init_weights
        if mode != "postinit":
            return
        if getattr(module, "done", False):  # _is_hf_initialized
            return
        if isinstance(module, (nn.Linear, Conv1D)):
            module.weight.data.normal_(mean=0.0, std=init_range)
            if module.bias is not None:
                module.bias.data.zero_()
        elif isinstance(module, nn.Embedding):
            module.weight.data.normal_(mean=0.0, std=init_range)
        elif isinstance(module, nn.LayerNorm):
            module.bias.data.zero_()
            module.weight.data.fill_(1.0)
        for name, p in module.named_parameters():
            if name == "c_proj.weight":
                p.data.normal_(mean=0.0, std=init_range / math.sqrt(2 * n_layer))
        module.done = True

    class Model(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(vocab, d)
            self.wpe = nn.Embedding(n_pos, d)
            self.drop = nn.Dropout(0.1)
            self.h = nn.ModuleList([Block() for _ in range(n_layer)])
            self.ln_f = nn.LayerNorm(d)
            self.apply(init_weights)  # post_init; no output embeddings to tie

    class LMHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.transformer = Model()
            self.lm_head = nn.Linear(d, vocab, bias=False)
            self.apply(init_weights)  # post_init, then tie_weights
            self.lm_head.weight = self.transformer.wte.weight

    torch.manual_seed(seed)
    model = LMHead()
    for line in torch.__config__.show().splitlines():
        if "CPU capability usage:" in line:
            sys.stdout.write("capability %s\n" % line.split(":", 1)[1].strip())
    named = list(model.named_parameters()) + [("lm_head.weight", model.lm_head.weight)]
    for name, p in named:
        values = p.detach().reshape(-1).tolist()
        sys.stdout.write("%s %d %s\n" % (name, len(values), " ".join(float(v).hex() for v in values)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
