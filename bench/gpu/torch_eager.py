"""PyTorch eager timings of vizoo's exported graphs (the GPU benchmark's denominator).

run.ts --dump DIR writes each model's ONNX graph as DIR/<model>.json (nodes, attributes, initializer
offsets) and DIR/<model>.bin (initializer bytes). This script executes that graph op by op with torch
functions on one device (no compilation, no CUDA graphs: PyTorch eager, one kernel launch per op as the
model's own PyTorch forward), checks its output against onnxruntime's (DIR/<model>.ref.json), and prints
images/s at each batch as JSON lines. Integer shape arithmetic stays on the CPU.

usage: python3 bench/gpu/torch_eager.py DIR [--device cuda] [--batches 1,32] [--iterations 20] [--out results.json]
"""
import argparse
import json
import math
import os
import statistics
import time

import torch
import torch.nn.functional as F

DTYPES = {1: torch.float32, 6: torch.int32, 7: torch.int64, 9: torch.bool, 11: torch.float64, 10: torch.float16}


def load_graph(path_json, path_bin, device):
    g = json.load(open(path_json))
    raw = open(path_bin, 'rb').read()
    values = {}
    for t in g['initializers']:
        dtype = DTYPES[t['dtype']]
        data = raw[t['offset']:t['offset'] + t['length']]
        x = torch.frombuffer(bytearray(data), dtype=dtype) if data else torch.zeros(0, dtype=dtype)
        x = x.reshape(t['dims'])
        # Integer tensors are shapes and indices: they stay on the CPU unless an op moves them.
        values[t['name']] = x.to(device) if dtype.is_floating_point else x
    return g, values


def attr(n, k, default=None):
    a = n['attrs'].get(k)
    if a is None:
        return default
    for key in ('ints', 'floats', 's', 'f', 'i'):
        if key in a:
            return a[key]
    t = a['t']
    return torch.frombuffer(bytearray(bytes(t['data'])), dtype=DTYPES[t['dtype']]).reshape(t['dims'])


def ints(x):
    return [int(v) for v in x.reshape(-1).tolist()]


def same_device(a, b):
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.device != b.device:
        return (a.to(b.device), b) if b.device.type != 'cpu' else (a, b.to(a.device))
    return a, b


def binary(fn):
    def run(n, x, y):
        x, y = same_device(x, y)
        return fn(x, y)
    return run


def reduce(fn):
    def run(n, x, axes_in=None):
        axes = attr(n, 'axes') if axes_in is None else ints(axes_in)
        keep = bool(attr(n, 'keepdims', 1))
        if not axes:
            axes = list(range(x.dim()))
        return fn(x, axes, keep)
    return run


def conv(n, x, w, b=None):
    pads = attr(n, 'pads', [0, 0, 0, 0])
    k = len(pads) // 2
    if any(pads[i] != pads[i + k] for i in range(k)):
        x = F.pad(x, [p for i in reversed(range(k)) for p in (pads[i], pads[i + k])])
        pads = [0] * (2 * k)
    return F.conv2d(x, w, b, attr(n, 'strides', [1, 1]), pads[:k], attr(n, 'dilations', [1, 1]), attr(n, 'group', 1))


def slice_op(n, x, starts, ends, axes=None, steps=None):
    starts, ends = ints(starts), ints(ends)
    axes = ints(axes) if axes is not None else list(range(len(starts)))
    steps = ints(steps) if steps is not None else [1] * len(starts)
    idx = [slice(None)] * x.dim()
    for s, e, a, st in zip(starts, ends, axes, steps):
        a %= x.dim()
        dim = x.shape[a]
        if st > 0:
            idx[a] = slice(max(0, min(dim, s if s >= 0 else s + dim)), max(0, min(dim, e if e >= 0 else e + dim)), st)
        else:
            s2 = min(dim - 1, s if s >= 0 else s + dim)
            e2 = e if e >= 0 else e + dim
            x = x.flip(a)
            lo, hi = dim - 1 - s2, dim - 1 - max(e2, -1)
            idx[a] = slice(lo, hi, -st)
    return x[tuple(idx)]


def resize(n, x, roi=None, scales=None, sizes=None):
    size = ints(sizes)[2:]
    mode = attr(n, 'mode', 'nearest')
    ctm = attr(n, 'coordinate_transformation_mode', 'half_pixel')
    if mode == 'linear':
        return F.interpolate(x, size=size, mode='bilinear', align_corners=ctm == 'align_corners')
    return F.interpolate(x, size=size, mode='nearest')


def pad(n, x, pads, value=None):
    p = ints(pads)
    k = len(p) // 2
    mode = attr(n, 'mode', 'constant')
    flat = [v for i in reversed(range(k)) for v in (p[i], p[i + k])]
    if mode == 'constant':
        return F.pad(x, flat, value=float(value.item()) if value is not None else 0.0)
    return F.pad(x, flat, mode='reflect' if mode == 'reflect' else 'replicate')


def reshape(n, x, shape):
    s = ints(shape)
    s = [x.shape[i] if d == 0 else d for i, d in enumerate(s)]
    return x.reshape(s)


def split(n, x, sizes=None):
    axis = attr(n, 'axis', 0)
    return list(torch.split(x, ints(sizes), dim=axis))


def layer_norm(n, x, w, b=None):
    axis = attr(n, 'axis', -1) % x.dim()
    return F.layer_norm(x, x.shape[axis:], w, b, attr(n, 'epsilon', 1e-5))


def gather(n, x, idx):
    axis = attr(n, 'axis', 0) % x.dim()
    idx = idx.to(x.device)
    return torch.index_select(x, axis, idx.reshape(-1).long() % x.shape[axis]).reshape(x.shape[:axis] + idx.shape + x.shape[axis + 1:])


def gemm(n, a, b, c=None):
    if attr(n, 'transA', 0):
        a = a.t()
    if attr(n, 'transB', 0):
        b = b.t()
    y = a @ b
    return y + c if c is not None else y


def scatter_nd(n, data, idx, upd):
    out = data.clone()
    idx = idx.to(data.device).long()
    k = idx.shape[-1]
    flat_idx = idx.reshape(-1, k)
    lin = torch.zeros(flat_idx.shape[0], dtype=torch.long, device=data.device)
    for d in range(k):
        lin = lin * data.shape[d] + flat_idx[:, d]
    view = out.reshape((-1,) + tuple(data.shape[k:]))
    u = upd.reshape((-1,) + tuple(data.shape[k:]))
    if attr(n, 'reduction', 'none') == 'add':
        view.index_add_(0, lin, u)
    else:
        view[lin] = u
    return out


def constant_of_shape(n, shape):
    v = attr(n, 'value')
    return torch.full(ints(shape), v.reshape(-1)[0].item(), dtype=v.dtype)


OPS = {
    'Identity': lambda n, x: x,
    'Add': binary(torch.add), 'Sub': binary(torch.sub), 'Mul': binary(torch.mul), 'Div': binary(lambda a, b: a / b if a.is_floating_point() else torch.div(a, b, rounding_mode='trunc')),
    'Pow': binary(torch.pow), 'Max': binary(torch.maximum), 'Min': binary(torch.minimum),
    'Equal': binary(torch.eq), 'Less': binary(torch.lt), 'Greater': binary(torch.gt), 'LessOrEqual': binary(torch.le), 'GreaterOrEqual': binary(torch.ge),
    'And': binary(torch.logical_and), 'Or': binary(torch.logical_or), 'Not': lambda n, x: torch.logical_not(x),
    'Mod': binary(lambda a, b: torch.remainder(a, b)),
    'Where': lambda n, c, a, b: torch.where(*[t.to(a.device if a.device.type != 'cpu' else b.device) for t in (c, a, b)]),
    'Relu': lambda n, x: F.relu(x), 'Sigmoid': lambda n, x: torch.sigmoid(x), 'Tanh': lambda n, x: torch.tanh(x), 'Erf': lambda n, x: torch.erf(x),
    'Exp': lambda n, x: torch.exp(x), 'Log': lambda n, x: torch.log(x), 'Sqrt': lambda n, x: torch.sqrt(x), 'Reciprocal': lambda n, x: torch.reciprocal(x),
    'Neg': lambda n, x: -x, 'Abs': lambda n, x: torch.abs(x), 'Floor': lambda n, x: torch.floor(x), 'Ceil': lambda n, x: torch.ceil(x),
    'Round': lambda n, x: torch.round(x), 'Sign': lambda n, x: torch.sign(x), 'Sin': lambda n, x: torch.sin(x), 'Cos': lambda n, x: torch.cos(x),
    'Softplus': lambda n, x: F.softplus(x), 'Elu': lambda n, x: F.elu(x, attr(n, 'alpha', 1.0)), 'LeakyRelu': lambda n, x: F.leaky_relu(x, attr(n, 'alpha', 0.01)),
    'Selu': lambda n, x: F.selu(x), 'PRelu': lambda n, x, s: torch.where(x >= 0, x, x * s), 'IsNaN': lambda n, x: torch.isnan(x),
    'Clip': lambda n, x, lo=None, hi=None: torch.clamp(x, None if lo is None else lo.item(), None if hi is None else hi.item()),
    'Cast': lambda n, x: x.to(DTYPES[attr(n, 'to')]),
    'Conv': conv, 'Gemm': gemm, 'MatMul': binary(torch.matmul),
    'BatchNormalization': lambda n, x, s, b, m, v: F.batch_norm(x, m, v, s, b, False, 0.0, attr(n, 'epsilon', 1e-5)),
    'LayerNormalization': layer_norm,
    'GlobalAveragePool': lambda n, x: x.mean(dim=(2, 3), keepdim=True),
    'AveragePool': lambda n, x: F.avg_pool2d(F.pad(x, [attr(n, 'pads')[1], attr(n, 'pads')[3], attr(n, 'pads')[0], attr(n, 'pads')[2]]), attr(n, 'kernel_shape'), attr(n, 'strides')),
    'MaxPool': lambda n, x: F.max_pool2d(F.pad(x, [attr(n, 'pads')[1], attr(n, 'pads')[3], attr(n, 'pads')[0], attr(n, 'pads')[2]], value=-math.inf), attr(n, 'kernel_shape'), attr(n, 'strides')),
    'ReduceMean': reduce(lambda x, a, k: x.mean(dim=a, keepdim=k)), 'ReduceSum': reduce(lambda x, a, k: x.sum(dim=a, keepdim=k)),
    'ReduceMax': reduce(lambda x, a, k: x.amax(dim=a, keepdim=k)), 'ReduceMin': reduce(lambda x, a, k: x.amin(dim=a, keepdim=k)),
    'ReduceProd': reduce(lambda x, a, k: torch.prod(x.flatten(), 0) if len(a) == x.dim() and not k else x.prod(dim=a[0], keepdim=k)),
    'ReduceL2': reduce(lambda x, a, k: torch.sqrt((x * x).sum(dim=a, keepdim=k))), 'ReduceSumSquare': reduce(lambda x, a, k: (x * x).sum(dim=a, keepdim=k)),
    'Softmax': lambda n, x: torch.softmax(x, attr(n, 'axis', -1)), 'LogSoftmax': lambda n, x: torch.log_softmax(x, attr(n, 'axis', -1)),
    'ArgMax': lambda n, x: torch.argmax(x, attr(n, 'axis', 0), keepdim=bool(attr(n, 'keepdims', 1))),
    'ArgMin': lambda n, x: torch.argmin(x, attr(n, 'axis', 0), keepdim=bool(attr(n, 'keepdims', 1))),
    'Reshape': reshape, 'Transpose': lambda n, x: x.permute(attr(n, 'perm')),
    'Unsqueeze': lambda n, x, a: x.reshape(unsqueezed(x.shape, ints(a))), 'Squeeze': lambda n, x, a=None: x.reshape([d for i, d in enumerate(x.shape) if i not in [v % x.dim() for v in ints(a)]]) if a is not None else x.squeeze(),
    'Concat': lambda n, *xs: torch.cat([t.to(xs[0].device) for t in xs], attr(n, 'axis')), 'Split': split,
    'Slice': slice_op, 'Pad': pad, 'Resize': resize, 'Gather': gather,
    'GatherND': lambda n, x, i: x[tuple(i.to(x.device).long().unbind(-1))],
    'ScatterND': scatter_nd, 'Tile': lambda n, x, r: x.repeat(ints(r)), 'Expand': lambda n, x, s: x * torch.ones(ints(s), dtype=x.dtype, device=x.device),
    'Shape': lambda n, x: torch.tensor(list(x.shape), dtype=torch.int64), 'ConstantOfShape': constant_of_shape,
    'Range': lambda n, s, e, d: torch.arange(s.item(), e.item(), d.item(), dtype=s.dtype),
    'CumSum': lambda n, x, a: torch.cumsum(x, int(a.item())),
    'Einsum': lambda n, *xs: torch.einsum(attr(n, 'equation'), *xs), 'Sum': lambda n, *xs: sum(xs[1:], xs[0]),
    'DepthToSpace': lambda n, x: F.pixel_shuffle(x, attr(n, 'blocksize')),
    'TopK': lambda n, x, k: list(torch.topk(x, int(k.item()), dim=attr(n, 'axis', -1), largest=bool(attr(n, 'largest', 1)), sorted=bool(attr(n, 'sorted', 1)))),
    'OneHot': lambda n, i, d, v: torch.where(F.one_hot(i.long() % int(d.item()), int(d.item())).bool(), v[1], v[0]),
}


def unsqueezed(shape, axes):
    out = list(shape)
    for a in sorted(v % (len(shape) + len(axes)) for v in axes):
        out.insert(a, 1)
    return out


def run_graph(g, values, x):
    env = dict(values)
    env[g['inputs'][0]] = x
    for n in g['nodes']:
        fn = OPS.get(n['op'])
        if fn is None:
            raise NotImplementedError(f"torch_eager: no handler for ONNX op {n['op']}")
        args = [env[i] if i else None for i in n['inputs']]
        while args and args[-1] is None:
            args.pop()
        y = fn(n, *args)
        if isinstance(y, (list, tuple)):
            for name, t in zip(n['outputs'], y):
                env[name] = t
        else:
            env[n['outputs'][0]] = y
    return env[g['outputs'][0]]


def sync(device):
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def main():
    p = argparse.ArgumentParser()
    p.add_argument('dir')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--batches', default='1,32')
    p.add_argument('--iterations', type=int, default=20)
    p.add_argument('--out')
    a = p.parse_args()
    results = []
    for f in sorted(os.listdir(a.dir)):
        name = f[:-5]
        if not f.endswith('.json') or f.endswith('.ref.json') or not os.path.exists(os.path.join(a.dir, name + '.bin')):
            continue
        try:
            results.extend(measure(a, name))
        except Exception as e:  # one model's failure is reported, the others still run
            print(json.dumps({'runtime': 'torch-eager', 'model': name, 'error': f'{type(e).__name__}: {e}'}), flush=True)
    if a.out:
        json.dump(results, open(a.out, 'w'), indent=1)


def measure(a, name):
    """One dumped model: its output against onnxruntime's, then images/s per batch."""
    g, values = load_graph(os.path.join(a.dir, name + '.json'), os.path.join(a.dir, name + '.bin'), a.device)
    ref = json.load(open(os.path.join(a.dir, name + '.ref.json')))
    shape = ref['shape']
    per_image = math.prod(shape[1:])

    def images(b):
        return torch.sin(torch.arange(b * per_image, dtype=torch.float64) * 0.37).float().reshape([b] + shape[1:]).to(a.device)

    results = []
    with torch.no_grad():
        y = run_graph(g, values, images(shape[0])).float().cpu().reshape(-1)
        r = torch.tensor(ref['output'])
        err = ((y - r).abs().max() / max(1.0, r.abs().max().item())).item()
        for b in [int(v) for v in a.batches.split(',')]:
            xb = images(b)
            for _ in range(3):
                run_graph(g, values, xb)
            sync(a.device)
            ts = []
            for _ in range(a.iterations):
                t0 = time.perf_counter()
                run_graph(g, values, xb)
                sync(a.device)
                ts.append(time.perf_counter() - t0)
            row = {'runtime': 'torch-eager', 'model': name, 'size': shape[2:], 'batch': b, 'imagesPerSecond': b / statistics.median(ts),
                   'device': f'torch {torch.__version__} {a.device}', 'maxRelDiffToOrt': err}
            results.append(row)
            print(json.dumps(row), flush=True)
    return results


if __name__ == '__main__':
    main()
