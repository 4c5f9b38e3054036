"""Convert a checkpoint of the official RGA code into rga_mm's re-ID model.

The official ``ResNet50_RGA_Model`` (microsoft/Relation-Aware-Global-Attention-Networks)
saves ``{'state_dict': ...}`` with keys

    backbone.conv1.* backbone.bn1.* backbone.layer1..4.*   torchvision ResNet-50 names
    backbone.rga_att1..4.*                                 one RGA_Module after each stage
    feat_bn.*  cls.weight                                  BNNeck head

rga_mm's re-ID model keeps the torchvision names inside its mmpretrain ResNet-50
(``backbone.backbone.*``), holds the RGA modules at ``backbone.attentions.layer1..4`` and the
head at ``head.feat_bn`` / ``head.classifier``. Inside one RGA module:

    official                          rga_mm
    {theta,phi}_{spatial,channel}.0   {spatial,channel}_gate.{theta,phi}.conv
    gx_{spatial,channel}.0            {spatial,channel}_gate.appearance_embed.conv
    gg_{spatial,channel}.0            {spatial,channel}_gate.relation_embed.conv
    W_{spatial,channel}.0 / .3        {spatial,channel}_gate.gate_mlp.0.conv / .1.conv
    (index + 1 of each conv)          ... .bn (BatchNorm2d after each conv)

Usage: python tools/model_converters/rga_official_to_mm.py SRC DST
"""
import argparse
import re
from collections import OrderedDict

import torch

from rga_mm.apis import CheckpointError, load_state_dict_file

_EMBEDDINGS = {'theta': 'theta', 'phi': 'phi', 'gx': 'appearance_embed',
               'gg': 'relation_embed'}
_GATE_LAYERS = {'0': '0.conv', '1': '0.bn', '3': '1.conv', '4': '1.bn'}
_EMBEDDING_LAYERS = {'0': 'conv', '1': 'bn'}
_MODULE_KEY = re.compile(r'^(theta|phi|gx|gg|W)_(spatial|channel)\.(\d+)\.(.+)$')
_MODEL_KEY = re.compile(r'^backbone\.rga_att([1-4])\.(.+)$')


def convert_rga_module(state_dict: dict) -> OrderedDict:
    """Map the state dict of one official ``RGA_Module`` onto one ``rga_mm.RGA``.

    Raises:
        KeyError: naming the first key that is not part of an official RGA module.
    """
    converted = OrderedDict()
    for key, value in state_dict.items():
        match = _MODULE_KEY.match(key)
        layers = _GATE_LAYERS if match and match[1] == 'W' else _EMBEDDING_LAYERS
        if not match or match[3] not in layers:
            raise KeyError(f'{key!r} is not a parameter of an official RGA_Module')
        part, branch, index, leaf = match.groups()
        name = 'gate_mlp' if part == 'W' else _EMBEDDINGS[part]
        converted[f'{branch}_gate.{name}.{layers[index]}.{leaf}'] = value
    return converted


def convert_official_reid(state_dict: dict) -> OrderedDict:
    """Map an official ``ResNet50_RGA_Model`` state dict onto rga_mm's re-ID model."""
    modules: dict[str, dict] = {}
    converted = OrderedDict()
    for key, value in state_dict.items():
        key = key.removeprefix('module.')  # saved from nn.DataParallel
        match = _MODEL_KEY.match(key)
        if match:
            modules.setdefault(match[1], OrderedDict())[match[2]] = value
        elif key.startswith('backbone.'):
            converted['backbone.' + key] = value
        elif key.startswith('feat_bn.'):
            converted['head.' + key] = value
        elif key == 'cls.weight':
            converted['head.classifier.weight'] = value
        else:
            raise KeyError(f'{key!r} is not part of an official ResNet50_RGA_Model')
    for stage, module_state in sorted(modules.items()):
        for key, value in convert_rga_module(module_state).items():
            converted[f'backbone.attentions.layer{stage}.{key}'] = value
    return converted


def main() -> None:
    parser = argparse.ArgumentParser(description='Convert an official RGA checkpoint.')
    parser.add_argument('src', help='official checkpoint ({"state_dict": ...})')
    parser.add_argument('dst', help='where to save the rga_mm checkpoint')
    args = parser.parse_args()
    try:  # weights only: pickled code in a downloaded file does not run
        state_dict = load_state_dict_file(args.src)
    except (FileNotFoundError, CheckpointError) as error:
        raise SystemExit(str(error)) from None
    converted = convert_official_reid(state_dict)
    torch.save({'state_dict': converted, 'meta': {'converted_from': args.src}}, args.dst)
    print(f'converted {len(converted)} tensors from {args.src} to {args.dst}')


if __name__ == '__main__':
    main()
