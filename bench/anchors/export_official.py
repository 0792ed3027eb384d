"""Makes the official ONNX export of an anchor from the weights bench/anchors/weights.ts writes (run once, when
an anchor is made; see README.md). Usage, with Debian's python3-torch:

  python3 bench/anchors/export_official.py ROOT NAME WEIGHTS.pth OUT.onnx

ROOT holds checkouts of the official repositories (as for bench/torch_train_step.py). The model is the
official one, in eval mode; the export settings are those of the README."""
import importlib.util
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from torch_train_step import install_timm_stand_ins  # noqa: E402

# vizoo name -> (file under ROOT, builder, kwargs)
MODELS = {
    'van_b0': ('VAN-Classification/models/van.py', 'van_b0', {}),
    'unireplknet_a_deploy': ('UniRepLKNet/unireplknet.py', 'unireplknet_a', {'deploy': True, 'attempt_use_lk_impl': False}),
}


def main(root, name, weights, out):
    install_timm_stand_ins()
    path, builder, kwargs = MODELS[name]
    spec = importlib.util.spec_from_file_location(f'official_{name}', os.path.join(root, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = getattr(module, builder)(**kwargs).eval()
    model.load_state_dict(torch.load(weights, map_location='cpu'), strict=True)
    x = torch.randn(1, 3, 224, 224)
    torch.onnx.export(model, x, out, opset_version=17, do_constant_folding=False, input_names=['input'], output_names=['output'],
                      dynamic_axes={'input': {0: 'batch'}, 'output': {0: 'batch'}})


if __name__ == '__main__':
    main(*sys.argv[1:5])
