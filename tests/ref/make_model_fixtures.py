#!/usr/bin/python3
"""Writes tests/data/models/: small torchvision-topology networks saved the ways
users have them, random inputs and PyTorch's logits for them.

Run by developers with /usr/bin/python3 (torch + numpy); never by `make test`.

  vgg16_small   torchvision VGG-16 layout (same module names), widths / 32,
                classifier hidden 32, 10 classes, 64x64 input
  alexnet_small torchvision AlexNet layout, widths / 16, hidden 32, 10
                classes, 95x95 input
  vgg11bn_small torchvision VGG-11-BN layout, widths / 32, random running
                statistics (eval mode), 64x64 input, zip serialization only
Each model is saved with torch.save legacy (_use_new_zipfile_serialization=
False), zip, and as .safetensors (written here with the stdlib). Logits are
PyTorch's forward in float64, stored as float32 (N, 10).
bad_*: malformed checkpoints made by hand (see crafted(); --crafted writes
only those).
`make_model_fixtures.py --full DIR` instead writes full-size random-init
torchvision vgg16/alexnet checkpoints and logits to DIR (not committed).
hostile_legacy.pth / hostile_zip.pth name os.system / builtins.eval: a
converter that executed them would create the file gcw_pwned_marker in its
working directory.
"""
import io
import json
import os
import pickle
import struct
import zipfile

import numpy as np
import torch
import torch.nn as nn

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data', 'models')


class Net(nn.Module):
    def __init__(self, features, pool, classifier):
        super().__init__()
        self.features, self.avgpool, self.classifier = features, nn.AdaptiveAvgPool2d(pool), classifier

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def vgg(cfg, bn, hidden, classes):
    layers, c = [], 3
    for v in cfg:
        if v == 'M':
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers.append(nn.Conv2d(c, v, 3, padding=1))
            if bn:
                layers.append(nn.BatchNorm2d(v))
            layers.append(nn.ReLU(inplace=True))
            c = v
    cls = nn.Sequential(nn.Linear(c * 49, hidden), nn.ReLU(True), nn.Dropout(),
                        nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(), nn.Linear(hidden, classes))
    return Net(nn.Sequential(*layers), (7, 7), cls)


def alexnet(w, hidden, classes):
    f = nn.Sequential(
        nn.Conv2d(3, w[0], 11, 4, 2), nn.ReLU(True), nn.MaxPool2d(3, 2),
        nn.Conv2d(w[0], w[1], 5, padding=2), nn.ReLU(True), nn.MaxPool2d(3, 2),
        nn.Conv2d(w[1], w[2], 3, padding=1), nn.ReLU(True),
        nn.Conv2d(w[2], w[3], 3, padding=1), nn.ReLU(True),
        nn.Conv2d(w[3], w[4], 3, padding=1), nn.ReLU(True), nn.MaxPool2d(3, 2))
    cls = nn.Sequential(nn.Dropout(), nn.Linear(w[4] * 36, hidden), nn.ReLU(True), nn.Dropout(),
                        nn.Linear(hidden, hidden), nn.ReLU(True), nn.Linear(hidden, classes))
    return Net(f, (6, 6), cls)


def save_safetensors(sd, path):
    header, blobs, off = {}, [], 0
    for k, v in sd.items():
        if not v.is_floating_point():
            continue
        b = v.detach().contiguous().to(torch.float32).numpy().astype('<f4').tobytes()
        header[k] = {'dtype': 'F32', 'shape': list(v.shape), 'data_offsets': [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(',', ':')).encode()
    h += b' ' * (-len(h) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


def save_npy(path, a):
    np.save(path, np.ascontiguousarray(a, dtype='<f4'))


def init(model):
    """He-normal weights so the signal survives the narrow layers (PyTorch's
    default init shrinks it to nothing and every input gives the same logits)."""
    for mod in model.modules():
        if isinstance(mod, (nn.Conv2d, nn.Linear)):
            nn.init.kaiming_normal_(mod.weight, nonlinearity='relu')
            nn.init.uniform_(mod.bias, -0.1, 0.1)


def make(name, model, hw, formats):
    model.eval()
    sd = model.state_dict()
    if 'legacy' in formats:
        torch.save(sd, os.path.join(OUT, name + '_legacy.pth'), _use_new_zipfile_serialization=False)
    if 'zip' in formats:
        torch.save(sd, os.path.join(OUT, name + '_zip.pth'))
    if 'safetensors' in formats:
        save_safetensors(sd, os.path.join(OUT, name + '.safetensors'))
    g = torch.Generator().manual_seed(1234)
    x = torch.randn(2, 3, hw, hw, generator=g)
    with torch.no_grad():
        logits = model.double()(x.double()).float()
    save_npy(os.path.join(OUT, name + '_in0.npy'), x[0:1].numpy())       # (1,3,H,W)
    save_npy(os.path.join(OUT, name + '_in1.npy'), x[1].numpy())         # (3,H,W)
    save_npy(os.path.join(OUT, name + '_logits.npy'), logits.numpy())    # (2,10)


class Evil:
    def __init__(self, fn, arg):
        self.fn, self.arg = fn, arg

    def __reduce__(self):
        return (self.fn, (self.arg,))


def hostile():
    import builtins
    marker = 'gcw_pwned_marker'
    # legacy layout: the very first pickle already calls os.system
    with open(os.path.join(OUT, 'hostile_legacy.pth'), 'wb') as f:
        f.write(pickle.dumps(Evil(os.system, 'touch ' + marker), protocol=2))
    # zip layout: data.pkl is a dict whose value is built by builtins.eval
    payload = "__import__('os').system('touch %s')" % marker
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as z:
        z.writestr('hostile/data.pkl', pickle.dumps({'w': Evil(builtins.eval, payload)}, protocol=2))
        z.writestr('hostile/version', '3\n')
    with open(os.path.join(OUT, 'hostile_zip.pth'), 'wb') as f:
        f.write(buf.getvalue())


def full(out):
    """Full-size random-init torchvision models for the issue's acceptance check
    (not committed): vgg16 legacy .pth, alexnet zip .pth and .safetensors, two
    224x224 inputs each and PyTorch's float32 logits (N, 1000)."""
    import torchvision
    os.makedirs(out, exist_ok=True)
    for name, fmts in (('alexnet', ('zip', 'safetensors')), ('vgg16', ('legacy',))):
        torch.manual_seed(3)
        m = getattr(torchvision.models, name)(weights=None).eval()
        sd = m.state_dict()
        if 'legacy' in fmts:
            torch.save(sd, os.path.join(out, name + '_legacy.pth'), _use_new_zipfile_serialization=False)
        if 'zip' in fmts:
            torch.save(sd, os.path.join(out, name + '_zip.pth'))
        if 'safetensors' in fmts:
            save_safetensors(sd, os.path.join(out, name + '.safetensors'))
        x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(5))
        with torch.no_grad():
            logits = m(x)
        save_npy(os.path.join(out, name + '_in0.npy'), x[0].numpy())
        save_npy(os.path.join(out, name + '_in1.npy'), x[1:2].numpy())
        save_npy(os.path.join(out, name + '_logits.npy'), logits.numpy())
        print('wrote', name, 'to', out)


def crafted():
    """Hand-made malformed checkpoints (stdlib only), each must be refused:
    bad_build.pth (BUILD on an allow-listed storage type), bad_huge.pth (a
    storage of 2^40 elements), bad_short.pth (storage bytes fewer than claimed),
    bad_view.pth (a view past its storage), bad_lie.safetensors (offsets that
    disagree with the shape and the file)."""
    def glob(m, n):
        return b'c' + m.encode() + b'\n' + n.encode() + b'\n'

    def i64(v):
        return b'\x8a\x08' + struct.pack('<q', v)

    def tensor(numel, size, stride):
        pid = b'(U\x07storage' + glob('torch', 'FloatStorage') + b'U\x010U\x03cpu' + i64(numel) + b'tQ'
        return (glob('torch._utils', '_rebuild_tensor_v2') + b'(' + pid + i64(0) + b'(' + b''.join(map(i64, size)) +
                b't(' + b''.join(map(i64, stride)) + b't\x89' + glob('collections', 'OrderedDict') + b')RtR')

    def zipit(name, pkl, data=None):
        with zipfile.ZipFile(os.path.join(OUT, name), 'w') as z:
            z.writestr('a/data.pkl', pkl)
            if data is not None:
                z.writestr('a/data/0', data)

    key = b'U\x11features.0.weight'
    zipit('bad_build.pth', b'\x80\x02' + glob('torch', 'FloatStorage') + b'}U\x05dtypeU\x03zzzsb.')
    zipit('bad_huge.pth', b'\x80\x02}' + key + tensor(1 << 40, [1], [1]) + b's.')
    zipit('bad_short.pth', b'\x80\x02}' + key + tensor(1000, [10], [1]) + b's.', b'\0' * 400)
    zipit('bad_view.pth', b'\x80\x02}' + key + tensor(10, [4, 4], [4, 1]) + b's.', b'\0' * 40)
    h = b'{"features.0.weight":{"dtype":"F32","shape":[64,3,11,11],"data_offsets":[0,92928]}}'
    with open(os.path.join(OUT, 'bad_lie.safetensors'), 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b'\0' * 100)


def main():
    import sys
    if len(sys.argv) == 2 and sys.argv[1] == '--crafted':
        return crafted()
    if len(sys.argv) == 3 and sys.argv[1] == '--full':
        return full(sys.argv[2])
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)
    m = vgg([2, 2, 'M', 4, 4, 'M', 8, 8, 8, 'M', 16, 16, 16, 'M', 16, 16, 16, 'M'], False, 32, 10)
    init(m)
    make('vgg16_small', m, 64, ('legacy', 'zip', 'safetensors'))
    torch.manual_seed(1)
    m = alexnet([4, 12, 24, 16, 16], 32, 10)
    init(m)
    make('alexnet_small', m, 95, ('legacy', 'zip', 'safetensors'))
    torch.manual_seed(2)
    m = vgg([2, 'M', 4, 'M', 8, 8, 'M', 16, 16, 'M', 16, 16, 'M'], True, 32, 10)
    init(m)
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
            mod.weight.data.uniform_(0.5, 1.5)
            mod.bias.data.uniform_(-0.2, 0.2)
    make('vgg11bn_small', m, 64, ('zip',))
    with open(os.path.join(OUT, 'labels10.txt'), 'w') as f:
        f.write(''.join('class %d name\n' % i for i in range(10)))
    hostile()
    crafted()
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print('wrote %s: %d files, %d bytes' % (OUT, len(os.listdir(OUT)), total))


if __name__ == '__main__':
    main()
