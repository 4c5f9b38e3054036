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

Usage: python tools/model_converters/rga_official_to_mm.py SRC DST [--overwrite]

A file that is no official checkpoint (a torchvision ResNet-50, an image classifier, a
checkpoint already in rga_mm's names, another network) or holds a key the official model
does not have stops the tool with one sentence naming it, before anything is written; so
does a DST that exists (unless ``--overwrite``), is a folder, lies below a file or cannot be
written (a DST whose folder is missing gets it created, as mmengine's ``dump`` does). DST is
written whole or not at all: a write that fails (a full disk) is one sentence, and an earlier
DST stays as it was. A file that holds only part of the official model
(e.g. no backbone) is converted, with a warning line saying how many of the official model's
tensors it lacks: the full set is the torchvision ResNet-50 (without ``fc``), ``feat_bn``
and ``cls`` and four RGA modules with the branches (spatial, channel) that the file's own
modules have; BatchNorm's ``num_batches_tracked`` counters are not counted. rga_mm's tools
refuse to load such a partial file unless given ``--partial-load``.
"""
import argparse
import os
import re
import sys
from collections import OrderedDict

from rga_mm.apis import CheckpointError, load_state_dict_file
from rga_mm.apis.checkpoints import OPTIONAL_KEY_SUFFIXES
from rga_mm.apis.output_files import torch_save_whole, write_failure
from rga_mm.engine.launch.run_config import check_output_file, check_spares_inputs

_EMBEDDINGS = {'theta': 'theta', 'phi': 'phi', 'gx': 'appearance_embed',
               'gg': 'relation_embed'}
_GATE_LAYERS = {'0': '0.conv', '1': '0.bn', '3': '1.conv', '4': '1.bn'}
_EMBEDDING_LAYERS = {'0': 'conv', '1': 'bn'}
_MODULE_KEY = re.compile(r'^(theta|phi|gx|gg|W)_(spatial|channel)\.(\d+)\.(.+)$')
_MODEL_KEY = re.compile(r'^backbone\.rga_att([1-4])\.(.+)$')
_BN_LEAVES = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')
_RESNET50_BLOCKS = (3, 4, 6, 3)
_RGA_MM_PREFIXES = ('backbone.backbone.', 'backbone.attentions.', 'head.feat_bn.',
                    'head.classifier.')
_EXPECTED = ('an official ResNet50_RGA_Model checkpoint with keys backbone.conv1/bn1/'
             'layer1..4.*, backbone.rga_att1..4.*, feat_bn.* and cls.weight')


class ConversionError(ValueError):
    """A state dict that is not (part of) an official RGA network; one sentence."""


def convert_rga_module(state_dict: dict, prefix: str = '') -> OrderedDict:
    """Map the state dict of one official ``RGA_Module`` onto one ``rga_mm.RGA``.

    Raises:
        ConversionError: naming the first key (after ``prefix``, where the module sits in
            its network) that is not part of an official RGA module.
    """
    converted = OrderedDict()
    for key, value in state_dict.items():
        match = _MODULE_KEY.match(key)
        layers = _GATE_LAYERS if match and match[1] == 'W' else _EMBEDDING_LAYERS
        if not match or match[3] not in layers:
            raise ConversionError(
                f'{prefix + key!r} is not a parameter of an official RGA_Module, whose keys '
                f'are {{theta,phi,gx,gg}}_{{spatial,channel}}.{{0,1}}.* and '
                f'W_{{spatial,channel}}.{{0,1,3,4}}.*')
        part, branch, index, leaf = match.groups()
        name = 'gate_mlp' if part == 'W' else _EMBEDDINGS[part]
        converted[f'{branch}_gate.{name}.{layers[index]}.{leaf}'] = value
    return converted


def check_official(state_dict: dict) -> None:
    """Refuse a state dict with no official key: say what it seems to be instead.

    Raises:
        ConversionError: it is empty, already in rga_mm's names, a bare (torchvision)
            ResNet-50 or another network.
    """
    keys = [key.removeprefix('module.') for key in state_dict]
    rga_mm_names = any(key.startswith(_RGA_MM_PREFIXES) for key in keys)
    classifier = any(key.startswith('head.fc.') for key in keys)
    if not (rga_mm_names or classifier) and any(key.startswith(('backbone.', 'feat_bn.')) or
                                                key == 'cls.weight' for key in keys):
        return
    if not keys:
        seems = 'holds no tensors'
    elif rga_mm_names:
        seems = 'already uses rga_mm\'s names (load it directly, no conversion needed)'
    elif classifier:
        seems = ('is an image classifier (backbone.* and head.fc.*, as mmpretrain\'s '
                 'ImageClassifier saves them) without RGA modules')
    elif 'conv1.weight' in keys and 'layer4.0.conv1.weight' in keys:
        seems = ('is a plain torchvision ResNet (no RGA modules; load it through '
                 '--cfg-options model.backbone.backbone.init_cfg.checkpoint=PATH instead)')
    else:
        seems = f'holds no official RGA keys (first key {keys[0]!r})'
    raise ConversionError(f'{seems}; the converter expects {_EXPECTED}')


def convert_official_reid(state_dict: dict) -> OrderedDict:
    """Map an official ``ResNet50_RGA_Model`` state dict onto rga_mm's re-ID model.

    Raises:
        ConversionError: the state dict is no official checkpoint (:func:`check_official`)
            or holds a key the official model does not have.
    """
    check_official(state_dict)
    resnet = set(resnet50_keys())
    modules: dict[str, dict] = {}
    converted = OrderedDict()
    for key, value in state_dict.items():
        key = key.removeprefix('module.')  # saved from nn.DataParallel
        match = _MODEL_KEY.match(key)
        if match:
            modules.setdefault(match[1], OrderedDict())[match[2]] = value
        elif key.startswith('backbone.'):
            if key.removeprefix('backbone.') not in resnet:
                raise ConversionError(f'{key!r} is not part of the official backbone, '
                                      f'torchvision\'s ResNet-50 without fc; the converter '
                                      f'expects {_EXPECTED}')
            converted['backbone.' + key] = value
        elif key.startswith('feat_bn.'):
            converted['head.' + key] = value
        elif key == 'cls.weight':
            converted['head.classifier.weight'] = value
        else:
            raise ConversionError(f'{key!r} is not part of {_EXPECTED}')
    for stage, module_state in sorted(modules.items()):
        prefix = f'backbone.rga_att{stage}.'
        for key, value in convert_rga_module(module_state, prefix).items():
            converted[f'backbone.attentions.layer{stage}.{key}'] = value
    return converted


def _bn_keys(prefix: str) -> list[str]:
    return [f'{prefix}.{leaf}' for leaf in _BN_LEAVES]


def resnet50_keys() -> list[str]:
    """The state dict keys of torchvision's ResNet-50 without ``fc``."""
    keys = ['conv1.weight', *_bn_keys('bn1')]
    for stage, blocks in enumerate(_RESNET50_BLOCKS, start=1):
        for block in range(blocks):
            prefix = f'layer{stage}.{block}'
            for conv in (1, 2, 3):
                keys += [f'{prefix}.conv{conv}.weight', *_bn_keys(f'{prefix}.bn{conv}')]
            if block == 0:
                keys += [f'{prefix}.downsample.0.weight', *_bn_keys(f'{prefix}.downsample.1')]
    return keys


def rga_module_keys(branches: set[str]) -> list[str]:
    """The state dict keys of an official ``RGA_Module`` with ``branches`` (a subset of
    spatial, channel); its convolutions have no bias."""
    keys = []
    for branch in sorted(branches):
        for part in ('theta', 'phi', 'gx', 'gg'):
            keys += [f'{part}_{branch}.0.weight', *_bn_keys(f'{part}_{branch}.1')]
        for conv, bn in (('0', '1'), ('3', '4')):
            keys += [f'W_{branch}.{conv}.weight', *_bn_keys(f'W_{branch}.{bn}')]
    return keys


def missing_official_keys(state_dict: dict) -> list[str]:
    """The required keys (not ``num_batches_tracked``) of the full official network that
    ``state_dict`` lacks; its RGA modules have the branches the state dict's modules have."""
    keys = {key.removeprefix('module.') for key in state_dict}
    module_keys = [match[2] for match in map(_MODEL_KEY.match, keys) if match]
    branches = {match[2] for match in map(_MODULE_KEY.match, module_keys) if match}
    expected = [f'backbone.{key}' for key in resnet50_keys()]
    expected += [f'backbone.rga_att{stage}.{key}' for stage in range(1, 5)
                 for key in rga_module_keys(branches)]
    expected += [*_bn_keys('feat_bn'), 'cls.weight']
    return [key for key in expected
            if key not in keys and not key.endswith(OPTIONAL_KEY_SUFFIXES)]


def warn_if_partial(state_dict: dict, src: str) -> None:
    """One warning line on stderr when ``state_dict`` lacks tensors of the official model."""
    missing = missing_official_keys(state_dict)
    if missing:
        print(f'warning: {src} lacks {len(missing)} tensors of the official '
              f'ResNet50_RGA_Model (e.g. {", ".join(missing[:3])}); the converted file holds '
              f'only part of rga_mm\'s re-ID model', file=sys.stderr)


def save_whole(checkpoint: dict, dst: str) -> None:
    """``torch.save`` ``checkpoint`` as ``dst`` whole or not at all (written beside it and
    renamed into place); a write that fails stops the tool in one sentence, an earlier
    ``dst`` as it was."""
    try:
        torch_save_whole(checkpoint, dst)
    except (OSError, RuntimeError) as error:  # torch.save's RuntimeError wraps the OSError
        raise SystemExit(write_failure(dst, error, 'give another DST')) from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description='Convert an official RGA checkpoint.')
    parser.add_argument('src', help='official checkpoint ({"state_dict": ...})')
    parser.add_argument('dst', help='where to save the rga_mm checkpoint')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace DST if it exists (it is refused otherwise)')
    args = parser.parse_args(argv)
    check_output_file(args.dst, option='DST', example='rga_mm.pth')
    check_spares_inputs([args.dst], [args.src], option='DST')
    if os.path.lexists(args.dst) and not args.overwrite:
        raise SystemExit(f'DST {args.dst} exists; give another path, or pass --overwrite to '
                         f'replace it')
    try:  # weights only: pickled code in a downloaded file does not run
        state_dict = load_state_dict_file(args.src)
        converted = convert_official_reid(state_dict)
    except (FileNotFoundError, CheckpointError) as error:
        raise SystemExit(str(error)) from None
    except ConversionError as error:
        raise SystemExit(f'{args.src}: {error}') from None
    warn_if_partial(state_dict, args.src)
    save_whole({'state_dict': converted, 'meta': {'converted_from': args.src}}, args.dst)
    print(f'converted {len(converted)} tensors from {args.src} to {args.dst}')


if __name__ == '__main__':
    main()
