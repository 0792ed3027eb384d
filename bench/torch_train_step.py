"""Times one AdamW training step of an official PyTorch model (vizoo's training benchmark, PyTorch column).

The model code is the official repository's own file, read from a checkout under $VIZOO_BENCH_OFFICIAL (see
bench/train.ts); nothing of it is part of vizoo. Prints one JSON line: seconds per step (median of --steps
after a warm-up step at batch 2) and the process's peak resident memory.

Usage: python3 torch_train_step.py --root DIR --model van_b0 --batch 8 [--size 224] [--steps 1] [--checkpoint]
"""
import argparse
import importlib.util
import json
import resource
import sys
import time
import types

import torch
import torch.nn.functional as F
import torch.utils.checkpoint

# vizoo model name -> (file under the root, builder function, builder kwargs, how to checkpoint its blocks)
MODELS = {
    'van_b0': ('VAN-Classification/models/van.py', 'van_b0', {}, 'wrap-blocks'),
    'unireplknet_a': ('UniRepLKNet/unireplknet.py', 'unireplknet_a', {'attempt_use_lk_impl': False}, 'with_cp'),
}


def install_timm_stand_ins():
    """The official files import DropPath, to_2tuple, trunc_normal_, register_model and _cfg from timm, which
    Debian does not package. When timm is missing, these stand-ins (same behaviour for what the files use)
    are registered under timm's module names."""
    try:
        import timm  # noqa: F401
        return False
    except ImportError:
        pass

    class DropPath(torch.nn.Module):
        def __init__(self, drop_prob=0.0):
            super().__init__()
            self.drop_prob = drop_prob

        def forward(self, x):
            if self.drop_prob == 0.0 or not self.training:
                return x
            keep = 1 - self.drop_prob
            mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
            return x * mask / keep

    def to_2tuple(v):
        return tuple(v) if isinstance(v, (tuple, list)) else (v, v)

    def trunc_normal_(t, mean=0.0, std=1.0, a=-2.0, b=2.0):
        return torch.nn.init.trunc_normal_(t, mean, std, a, b)

    layers = types.ModuleType('timm.models.layers')
    layers.DropPath, layers.to_2tuple, layers.trunc_normal_ = DropPath, to_2tuple, trunc_normal_
    registry = types.ModuleType('timm.models.registry')
    registry.register_model = lambda fn: fn
    vit = types.ModuleType('timm.models.vision_transformer')
    vit._cfg = lambda url='', **kw: {'url': url, **kw}
    timm = types.ModuleType('timm')
    models = types.ModuleType('timm.models')
    timm.models, models.layers, models.registry, models.vision_transformer = models, layers, registry, vit
    sys.modules.update({'timm': timm, 'timm.models': models, 'timm.models.layers': layers, 'timm.models.registry': registry, 'timm.models.vision_transformer': vit})
    return True


def load_official(root, name, checkpoint):
    path, builder, kwargs, how = MODELS[name]
    spec = importlib.util.spec_from_file_location(f'official_{name}', f'{root}/{path}')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    if checkpoint and how == 'with_cp':
        kwargs = {**kwargs, 'with_cp': True}
    model = getattr(mod, builder)(**kwargs)
    if checkpoint and how == 'wrap-blocks':
        # torch.utils.checkpoint around each residual block, as vizoo checkpoints them.
        for m in model.modules():
            if type(m).__name__ == 'Block':
                m.forward = (lambda f: lambda x: torch.utils.checkpoint.checkpoint(f, x))(m.forward)
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--root', required=True)
    ap.add_argument('--model', required=True, choices=sorted(MODELS))
    ap.add_argument('--batch', type=int, required=True)
    ap.add_argument('--size', type=int, default=224)
    ap.add_argument('--steps', type=int, default=1)
    ap.add_argument('--checkpoint', action='store_true')
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    stand_ins = install_timm_stand_ins()
    model = load_official(args.root, args.model, args.checkpoint).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.05)
    x = torch.randn(args.batch, 3, args.size, args.size)
    target = F.one_hot(torch.arange(args.batch) % 1000, 1000).float() * 0.9 + 0.1 / 1000

    def step(n):
        opt.zero_grad(set_to_none=True)
        loss = torch.sum(-target[:n] * F.log_softmax(model(x[:n]), dim=-1), dim=-1).mean()
        loss.backward()
        opt.step()

    # Warm-up at batch 2, as vizoo's side is warmed up by its memory probes (batch 1 and 2).
    step(2)
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step(args.batch)
        times.append(time.perf_counter() - t0)
    times.sort()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({'seconds': times[len(times) // 2], 'peak_rss_bytes': peak, 'torch': torch.__version__, 'timm_stand_ins': stand_ins}))


if __name__ == '__main__':
    main()
