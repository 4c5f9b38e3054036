"""Official RGA_Module / ResNet50_RGA_Model state dicts land one-to-one in rga_mm's modules.

The synthetic state dicts below are written from the official module's definition (conv
shapes from in_channel, in_spatial and the three ratios), independently of rga_mm's code.
"""
import re
import sys
from pathlib import Path

import pytest
import torch
import torchvision

from rga_mm.models.attention import RGA
from rga_mm.testing import load_script
from tool_runs import run_with_file_size_limit

CONVERTER = Path(__file__).parents[2] / 'tools/model_converters/rga_official_to_mm.py'
converter = load_script(CONVERTER, 'rga_official_to_mm')


def _bn(prefix, width, state):
    for leaf in ('weight', 'bias', 'running_mean', 'running_var'):
        state[f'{prefix}.{leaf}'] = torch.randn(width)
    state[f'{prefix}.num_batches_tracked'] = torch.tensor(7)


def _conv_bn(prefix, c_in, c_out, state, conv_index=0):
    state[f'{prefix}.{conv_index}.weight'] = torch.randn(c_out, c_in, 1, 1)
    _bn(f'{prefix}.{conv_index + 1}', c_out, state)


def _branch(suffix, embedded, related, down_ratio, state):
    """One branch of the official module: theta/phi/gx embed ``embedded = (width, inter)``,
    gg embeds the ``related = (nodes, inter)`` relations, W the gate's two 1×1 convs."""
    for name in ('theta', 'phi', 'gx'):
        _conv_bn(f'{name}_{suffix}', *embedded, state)
    _conv_bn(f'gg_{suffix}', 2 * related[0], related[1], state)
    width = 1 + related[1]
    _conv_bn(f'W_{suffix}', width, width // down_ratio, state)
    _conv_bn(f'W_{suffix}', width // down_ratio, 1, state, conv_index=3)


def official_rga_state(in_channel, in_spatial, use_spatial=True, use_channel=True,
                       cha_ratio=8, spa_ratio=8, down_ratio=8):
    """The keys and shapes of official RGA_Module(in_channel, in_spatial, ...)."""
    inter_channel, inter_spatial = in_channel // cha_ratio, in_spatial // spa_ratio
    state = {}
    if use_spatial:  # features embedded over channels, relations between positions
        _branch('spatial', (in_channel, inter_channel), (in_spatial, inter_spatial),
                down_ratio, state)
    if use_channel:  # the transpose: embedded over positions, relations between channels
        _branch('channel', (in_spatial, inter_spatial), (in_channel, inter_channel),
                down_ratio, state)
    return state


@pytest.mark.parametrize('mode,flags', [('SC', {}), ('S', dict(use_channel=False)),
                                        ('C', dict(use_spatial=False))])
@pytest.mark.parametrize('channels,size', [(256, (64, 32)), (2048, (16, 8))])
def test_every_official_tensor_lands_in_rga(mode, flags, channels, size):
    official = official_rga_state(channels, size[0] * size[1], **flags)
    converted = converter.convert_rga_module(official)
    module = RGA(channels, spatial_size=size, mode=mode)
    assert len(converted) == len(official) == len(module.state_dict())
    module.load_state_dict(converted, strict=True)  # names and shapes all fit
    own = module.state_dict()
    for key, value in converted.items():
        assert torch.equal(own[key], value)
    # spot-check two mappings against the official layout
    assert torch.equal(own['spatial_gate.gate_mlp.1.conv.weight'] if 'S' in mode else
                       own['channel_gate.gate_mlp.1.conv.weight'],
                       official['W_spatial.3.weight'] if 'S' in mode else
                       official['W_channel.3.weight'])


def test_unknown_module_key_is_named():
    with pytest.raises(converter.ConversionError,
                       match="'theta_spatial.2.weight' is not a parameter"):
        converter.convert_rga_module({'theta_spatial.2.weight': torch.zeros(1)})


def test_reid_model_keys():
    """Backbone keys keep torchvision names under backbone.backbone; head renamed."""
    state = {'module.backbone.conv1.weight': torch.randn(64, 3, 7, 7),
             'backbone.layer4.2.bn3.running_var': torch.randn(2048),
             'feat_bn.bias': torch.randn(2048),
             'cls.weight': torch.randn(751, 2048)}
    for key, value in official_rga_state(256, 2048).items():
        state[f'backbone.rga_att1.{key}'] = value
    converted = converter.convert_official_reid(state)
    assert torch.equal(converted['backbone.backbone.conv1.weight'],
                       state['module.backbone.conv1.weight'])
    assert torch.equal(converted['backbone.backbone.layer4.2.bn3.running_var'],
                       state['backbone.layer4.2.bn3.running_var'])
    assert torch.equal(converted['head.feat_bn.bias'], state['feat_bn.bias'])
    assert torch.equal(converted['head.classifier.weight'], state['cls.weight'])
    assert torch.equal(converted['backbone.attentions.layer1.spatial_gate.theta.conv.weight'],
                       state['backbone.rga_att1.theta_spatial.0.weight'])
    assert len(converted) == len(state)
    with pytest.raises(converter.ConversionError,
                       match="'fc.weight' is not part of an official ResNet50_RGA_Model"):
        converter.convert_official_reid({'cls.weight': torch.zeros(1), 'fc.weight': state[
            'cls.weight']})
    for foreign in ('backbone.fc.weight', 'backbone.layer5.0.conv1.weight',
                    'backbone.layer1.3.conv1.weight'):  # layer1 has 3 blocks, 0 to 2
        with pytest.raises(converter.ConversionError,
                           match=rf"^'{re.escape(foreign)}' is not part of the official "
                                 rf"backbone, torchvision's ResNet-50 without fc"):
            converter.convert_official_reid({**state, foreign: torch.zeros(1)})


def test_converter_command_line(tmp_path):
    import subprocess
    import sys
    state = {f'backbone.rga_att4.{k}': v for k, v in official_rga_state(64, 32).items()}
    state['cls.weight'] = torch.randn(10, 64)
    src, dst = tmp_path / 'official.pth', tmp_path / 'mm.pth'
    torch.save({'state_dict': state, 'epoch': 600}, src)
    subprocess.run([sys.executable, str(CONVERTER), str(src), str(dst)], check=True)
    converted = torch.load(dst, weights_only=True)['state_dict']
    assert torch.equal(converted['backbone.attentions.layer4.channel_gate.gate_mlp.0.bn.weight'],
                       state['backbone.rga_att4.W_channel.1.weight'])
    assert len(converted) == len(state)


def _run(tmp_path, state, dst='mm.pth'):
    """The converter's command line on ``state`` saved as tmp_path/in.pth."""
    torch.save({'state_dict': state}, tmp_path / 'in.pth')
    converter.main([str(tmp_path / 'in.pth'), str(tmp_path / dst)])


@pytest.mark.parametrize('state,seems', [
    (torchvision.models.resnet50().state_dict(), 'is a plain torchvision ResNet'),
    ({'backbone.backbone.conv1.weight': torch.zeros(1), 'head.classifier.weight':
      torch.zeros(1)}, "already uses rga_mm's names"),
    ({'backbone.conv1.weight': torch.zeros(1), 'backbone.layer4.2.bn3.weight': torch.zeros(1),
      'head.fc.weight': torch.zeros(1), 'head.fc.bias': torch.zeros(1)},
     "is an image classifier \\(backbone.\\* and head.fc.\\*, as mmpretrain's "
     "ImageClassifier saves them\\) without RGA modules"),
    ({'conv1.weight': torch.zeros(1), 'linear.weight': torch.zeros(1)},
     "holds no official RGA keys \\(first key 'conv1.weight'\\)"),
    ({'backbone.conv1.weight': torch.zeros(1), 'backbone.rga_att1.zzz': torch.zeros(1)},
     "'backbone.rga_att1.zzz' is not a parameter of an official RGA_Module, whose keys"),
])
def test_wrong_checkpoint_is_one_sentence(tmp_path, state, seems):
    """No official checkpoint: what the file seems to be and what is expected, nothing
    written."""
    with pytest.raises(SystemExit, match=f'^{re.escape(str(tmp_path / "in.pth"))}: {seems}'):
        _run(tmp_path, state)
    assert not (tmp_path / 'mm.pth').exists()


def test_a_missing_output_folder_is_created_before_reading(tmp_path):
    """As mmengine's ``dump`` does; the source is read only after the output is checked."""
    with pytest.raises(SystemExit, match=r'not_read\.pth does not exist'):
        converter.main([str(tmp_path / 'not_read.pth'), str(tmp_path / 'missing_dir/out.pth')])
    assert (tmp_path / 'missing_dir').is_dir()
    assert not (tmp_path / 'missing_dir/out.pth').exists()


def test_the_source_given_as_destination_is_refused_and_kept(tmp_path):
    """Converting in place would lose the official checkpoint."""
    state = {'feat_bn.bias': torch.zeros(4), 'cls.weight': torch.zeros(3, 4)}
    with pytest.raises(SystemExit, match=re.escape(
            f'DST: the output {tmp_path / "in.pth"} would overwrite the input '
            f'{tmp_path / "in.pth"}; choose another path')):
        _run(tmp_path, state, dst='in.pth')
    assert torch.load(tmp_path / 'in.pth', weights_only=True)['state_dict'].keys() == state.keys()


def test_an_existing_destination_is_replaced_only_with_overwrite(tmp_path, capsys):
    state = {'feat_bn.bias': torch.zeros(4), 'cls.weight': torch.zeros(3, 4)}
    earlier = tmp_path / 'mm.pth'
    earlier.write_bytes(b'a checkpoint trained for a week')
    with pytest.raises(SystemExit) as stop:
        _run(tmp_path, state)
    assert str(stop.value) == (f'DST {earlier} exists; give another path, or pass '
                               f'--overwrite to replace it')
    assert earlier.read_bytes() == b'a checkpoint trained for a week'
    converter.main([str(tmp_path / 'in.pth'), str(earlier), '--overwrite'])
    assert torch.load(earlier, weights_only=True)['state_dict'].keys() == {
        'head.feat_bn.bias', 'head.classifier.weight'}


@pytest.mark.skipif(sys.platform == 'win32', reason='POSIX file-size limits')
def test_a_write_past_the_file_size_limit_leaves_the_earlier_file(tmp_path):
    """A full disk, as a file-size limit makes one: one sentence, the earlier DST as it
    was and no temporary file (torch.save wrote into DST in place, leaving it cut short)."""
    src, dst = tmp_path / 'in.pth', tmp_path / 'mm.pth'
    torch.save({'state_dict': {'cls.weight': torch.zeros(1000, 512)}}, src)
    dst.write_bytes(b'an earlier conversion')
    result = run_with_file_size_limit(sys.executable, CONVERTER, src, dst, '--overwrite',
                                      limit=2**16)
    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == (
        f'could not write {dst} (File too large), the earlier file left as it was: free space '
        f'on that disk or raise the file-size limit (ulimit -f)')
    assert dst.read_bytes() == b'an earlier conversion'
    assert sorted(path.name for path in tmp_path.iterdir()) == ['in.pth', 'mm.pth']


def test_partial_checkpoint_is_converted_with_a_warning(tmp_path, capsys):
    """Two official tensors: converted, and the 268 other required tensors of the official
    network (265 ResNet-50, 3 feat_bn; no RGA module in the file) are counted."""
    _run(tmp_path, {'feat_bn.bias': torch.zeros(4), 'cls.weight': torch.zeros(3, 4)})
    printed = capsys.readouterr()
    assert printed.err.startswith(f'warning: {tmp_path / "in.pth"} lacks 268 tensors of the '
                                  f'official ResNet50_RGA_Model (e.g. backbone.conv1.weight,')
    assert 'converted 2 tensors' in printed.out
    assert len(torch.load(tmp_path / 'mm.pth', weights_only=True)['state_dict']) == 2


def test_full_official_network_lacks_nothing():
    """The expected keys are torchvision's ResNet-50 (no fc), feat_bn, cls and four RGA
    modules with the file's branches; without the spatial branch nothing spatial is asked."""
    state = {f'backbone.{k}': v for k, v in torchvision.models.resnet50().state_dict().items()
             if not k.startswith('fc.')}
    for stage in range(1, 5):
        for key, value in official_rga_state(64, 32, use_spatial=False).items():
            state[f'module.backbone.rga_att{stage}.{key}'] = value
    for leaf in ('weight', 'bias', 'running_mean', 'running_var'):
        state[f'feat_bn.{leaf}'] = torch.zeros(1)
    state['cls.weight'] = torch.zeros(1)
    assert converter.missing_official_keys(state) == []
    del state['backbone.layer2.0.downsample.0.weight']
    del state['module.backbone.rga_att3.gg_channel.1.running_var']
    assert converter.missing_official_keys(state) == [
        'backbone.layer2.0.downsample.0.weight', 'backbone.rga_att3.gg_channel.1.running_var']


def test_an_empty_state_dict_is_called_empty(tmp_path):
    src = tmp_path / 'in.pth'
    torch.save({'state_dict': {}}, src)
    with pytest.raises(SystemExit, match=rf'^{re.escape(str(src))} holds an empty state dict '
                                         r'\(no tensors at all\)'):
        converter.main([str(src), str(tmp_path / 'mm.pth')])

