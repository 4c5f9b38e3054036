"""rga_mm.apis.init_model: build any config's model and load weights safely."""
import logging
import re
from pathlib import Path

import pytest
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger

from rga_mm.apis import CheckpointError, init_model

TINY_CONFIG = """
default_scope = 'rga_mm'
input_size = (32, 16)
model = dict(
    type='StageAttentionBackbone',
    backbone=dict(type='mmpretrain.ResNet', depth=18, out_indices=(3, )),
    attentions=dict(layer1=dict(type='RGA', in_channels=64, spatial_size=(8, 4), reduction=4)))
"""


@pytest.fixture
def config_file(tmp_path) -> Path:
    path = tmp_path / 'tiny_rga.py'
    path.write_text(TINY_CONFIG)
    return path


def test_builds_from_path_and_config_and_loads_weights(config_file, tmp_path):
    model = init_model(config_file)
    assert not model.training and model.cfg.input_size == (32, 16)
    for param in model.parameters():
        param.data.normal_()
    checkpoint = tmp_path / 'weights.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {'epoch': 3}}, checkpoint)

    loaded = init_model(Config.fromfile(config_file), checkpoint=str(checkpoint))
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    image = torch.randn(1, 3, 32, 16)
    torch.testing.assert_close(loaded(image)[0], model(image)[0])


def test_checkpoint_with_mismatched_shape_names_the_key(config_file, tmp_path):
    model = init_model(config_file, cfg_options={
        'model.attentions.layer1.reduction': 2})  # theta embeds 64 → 32 instead of 16
    checkpoint = tmp_path / 'other.pth'
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    with pytest.raises(ValueError, match=r"'attentions.layer1.spatial_gate.theta.conv.weight'"
                                         r" has shape \(32, 64, 1, 1\)"):
        init_model(config_file, checkpoint=str(checkpoint))


class _RunsCode:
    """A pickle payload that would create a file if it were ever unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker, ))


def test_untrusted_checkpoint_cannot_run_code(config_file, tmp_path):
    marker = tmp_path / 'pwned'
    checkpoint = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': _RunsCode(marker)}, checkpoint)
    with pytest.raises(CheckpointError, match=(
            rf'^checkpoint {re.escape(str(checkpoint))} holds Python objects that safe loading '
            r'refuses, because rebuilding them could run code \(Weights only load failed: '
            r'Unsupported global: GLOBAL pathlib\.\w*Path\S*\); load only checkpoints from a '
            r'source you trust, saved as tensors$')) as error:
        init_model(config_file, checkpoint=str(checkpoint))
    assert type(error.value) is CheckpointError
    assert not marker.exists()


def test_missing_files_are_named(config_file, tmp_path):
    with pytest.raises(FileNotFoundError, match='nowhere.py'):
        init_model(tmp_path / 'nowhere.py')
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        init_model(config_file, checkpoint=str(tmp_path / 'missing.pth'))


def test_runner_checkpoints_load_with_weights_only(tmp_path):
    """A checkpoint written by mmengine's Runner (message hub, numpy scalars) loads under
    torch's weights-only protection, which stays on."""
    from mmengine.model import BaseModel
    from mmengine.runner import Runner
    from torch import nn

    class Regressor(BaseModel):

        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(2, 1)

        def forward(self, inputs, data_samples=None, mode='tensor'):
            out = self.linear(inputs)  # default_collate stacks the batch
            return dict(loss=out.pow(2).mean()) if mode == 'loss' else out

    dataset = [dict(inputs=torch.randn(2)) for _ in range(4)]
    runner = Runner(
        model=Regressor(), work_dir=str(tmp_path), experiment_name=f'regressor_{tmp_path.name}',
        train_dataloader=dict(dataset=dataset, batch_size=2,
                              sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        default_hooks=dict(logger=None, checkpoint=dict(type='CheckpointHook', interval=1)))
    runner.train()
    checkpoint = torch.load(tmp_path / 'epoch_1.pth', weights_only=True)
    assert checkpoint['meta']['epoch'] == 1
    assert 'log_scalars' in checkpoint['message_hub']


class _ReachesBeyondHistoryBuffer:
    """Pickles as getattr(HistoryBuffer, '__init__'): an attribute chain out of the allowlist."""

    def __reduce__(self):
        from mmengine.logging import HistoryBuffer
        return (getattr, (HistoryBuffer, '__init__'))


def test_checkpoint_getattr_is_limited_to_history_buffer_statistics(tmp_path):
    checkpoint = tmp_path / 'reach.pth'
    torch.save({'state_dict': {}, 'payload': _ReachesBeyondHistoryBuffer()}, checkpoint)
    # rga_mm.utils.setup_env.history_buffer_statistic, the allowlisted getattr, refuses it
    with pytest.raises(ValueError, match=(
            r"^refusing getattr\(<class 'mmengine\.logging\.history_buffer\.HistoryBuffer'>, "
            r"'__init__'\) in a checkpoint: only HistoryBuffer statistics \('min', 'max', "
            r"'current', 'mean'\) are allowed$")) as error:
        torch.load(checkpoint, weights_only=True)
    assert type(error.value) is ValueError


def test_a_top_level_data_preprocessor_reaches_the_model():
    """CIFAR configs state their normalisation at the top level, where mmengine's Runner
    merges it into the model; init_model must do the same."""
    root = Path(__file__).parents[2]
    config = Config.fromfile(str(root / 'configs/cifar/resnet110_rga-sc_1xb128-64k_cifar10.py'))
    model = init_model(config)
    expected = torch.tensor(config.data_preprocessor.mean).view(-1, 1, 1)
    torch.testing.assert_close(model.data_preprocessor.mean, expected)


def test_overrides_stay_out_of_the_callers_config(config_file):
    config = Config.fromfile(config_file)
    deeper = init_model(config, cfg_options={'model.backbone.depth': 34})
    assert len(deeper.backbone.layer1) == 3  # ResNet-34
    assert config.model.backbone.depth == 18
    assert len(init_model(config).backbone.layer1) == 2  # ResNet-18 again


def test_a_mistyped_option_is_named_as_the_caller_gave_it(config_file):
    """In Python the key is a ``cfg_options`` entry, not a command-line flag."""
    with pytest.raises(ValueError, match=re.escape(
            "cfg_options['model.backbone.dpeth']: model.backbone in the config has no key "
            "'dpeth'; did you mean 'depth'?")):
        init_model(config_file, cfg_options={'model.backbone.dpeth': 34})


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks a machine without CUDA')
def test_a_cuda_device_without_cuda_is_refused_in_one_sentence(config_file):
    with pytest.raises(ValueError, match=r'device cuda:0 asked for, but this PyTorch sees no '
                                         r'CUDA device .*: use cpu'):
        init_model(config_file, device='cuda:0')


@pytest.mark.parametrize('device', ['gpu', 'cuda:x', 'cpu:0:1'])
def test_a_device_torch_does_not_know_is_refused_in_one_sentence(config_file, device):
    with pytest.raises(ValueError, match=rf"device '{device}' is not a device PyTorch knows: "
                                         rf"give e\.g\. 'cpu', 'cuda' or 'cuda:0'"):
        init_model(config_file, device=device)


@pytest.mark.skipif(torch.backends.mps.is_available(), reason='checks a machine without MPS')
def test_an_mps_device_without_mps_is_refused_in_one_sentence(config_file):
    with pytest.raises(ValueError, match=r'device mps asked for, but this PyTorch sees no MPS '
                                         r'device \(torch\.backends\.mps\.is_available\(\) is '
                                         r'False\): use cpu'):
        init_model(config_file, device='mps')


def test_partial_loading_refuses_a_checkpoint_that_fills_no_tensor(config_file, tmp_path):
    model = init_model(config_file)
    foreign = tmp_path / 'foreign.pth'
    torch.save({'state_dict': {'encoder.weight': torch.zeros(3, 3)}}, foreign)
    count = sum(not key.endswith('num_batches_tracked') for key in model.state_dict())
    with pytest.raises(ValueError, match=rf"checkpoint {re.escape(str(foreign))} shares no "
                                         rf"tensor with the "
                                         rf"model built from the config: none of the model's "
                                         rf'{count} tensors .* likely a checkpoint of another '
                                         rf'model'):
        init_model(config_file, checkpoint=str(foreign), strict=False)
    reshaped = {key: torch.zeros(1, *value.shape) for key, value in model.state_dict().items()}
    torch.save(reshaped, foreign)
    with pytest.raises(ValueError, match='shares no tensor with the model'):
        init_model(config_file, checkpoint=str(foreign), strict=False)
    partial = tmp_path / 'partial.pth'
    torch.save({'backbone.conv1.weight': model.state_dict()['backbone.conv1.weight']}, partial)
    assert not init_model(config_file, checkpoint=str(partial), strict=False).training


def test_a_partial_load_is_summed_up_in_one_line(config_file, tmp_path, caplog):
    """Instead of mmengine's list of every key: counts and the first few names."""
    model = init_model(config_file)
    state = model.state_dict()
    count = sum(not key.endswith('num_batches_tracked') for key in state)
    dropped = [key for key in state if not key.endswith('num_batches_tracked')][-4:]
    partial = tmp_path / 'partial.pth'
    torch.save({**{k: v for k, v in state.items() if k not in dropped},
                'extra.weight': torch.zeros(2)}, partial)
    whole = tmp_path / 'whole.pth'
    torch.save(state, whole)
    logger = MMLogger.get_current_instance()
    logger.addHandler(caplog.handler)
    try:
        loaded = init_model(config_file, checkpoint=str(partial), strict=False)
        init_model(config_file, checkpoint=str(whole), strict=False)
    finally:
        logger.removeHandler(caplog.handler)
    warnings = [record.getMessage() for record in caplog.records
                if record.levelno >= logging.WARNING]
    assert warnings == [
        f"partial load: {count - len(dropped)} of the model's {count} tensors loaded from "
        f"{partial}; {len(dropped)} keep their initial values ({', '.join(dropped[:3])}, "
        f"...); 1 of the checkpoint's are not the model's (extra.weight)"]  # the whole one: no line
    torch.testing.assert_close(loaded.state_dict()['backbone.conv1.weight'],
                               state['backbone.conv1.weight'])


def test_the_checkpoints_dataset_meta_reaches_the_model(config_file, tmp_path):
    """As mmseg's and mmpretrain's init_model set it, for their visualisation helpers."""
    state_dict = init_model(config_file).state_dict()
    meta = dict(classes=('road', 'sky'), palette=[[128, 64, 128], [70, 130, 180]])
    with_meta = tmp_path / 'with_meta.pth'
    torch.save(dict(meta=dict(epoch=1, dataset_meta=meta), state_dict=state_dict), with_meta)
    assert init_model(config_file, checkpoint=str(with_meta)).dataset_meta == meta
    bare = tmp_path / 'bare.pth'
    torch.save(state_dict, bare)
    assert not hasattr(init_model(config_file, checkpoint=str(bare)), 'dataset_meta')
