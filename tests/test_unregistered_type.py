"""A config type that no registry holds gets one sentence with the closest registered name
(rga_mm.unregistered_type), in the Runner-based tools too: mmengine's KeyError ended them
in a traceback with a link and no candidate."""
from pathlib import Path

import pytest
import torch
from mmengine.registry import DATASETS, init_default_scope

from rga_mm.apis import init_model
from rga_mm.testing import load_script
from rga_mm.unregistered_type import unregistered_type_message
from tool_runs import run_in_process

ROOT = Path(__file__).parents[1]
CONFIG = ROOT / 'configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'


def _miss(type_name: str) -> KeyError:
    """The KeyError mmengine raises when building ``type_name`` in rga_mm's dataset scope."""
    init_default_scope('rga_mm')
    with pytest.raises(KeyError) as error:
        DATASETS.build(dict(type=type_name))
    return error.value


@pytest.mark.parametrize('type_name, end', [
    ('Market1502', "; did you mean 'Market1501'?"),
    ('rga_mm.Market1502', "; did you mean 'rga_mm.Market1501'?"),  # compared without scope
    ('Nothing', ': check the spelling in the config, or that its custom_imports import the '
                'module that registers it'),
])
def test_the_closest_registered_type_is_named(type_name, end):
    assert unregistered_type_message(_miss(type_name)) == (
        f"type={type_name!r} is not in the rga_mm::dataset registry{end}")


def test_other_key_errors_are_left_alone():
    assert unregistered_type_message(KeyError('layer4')) is None


def test_the_test_tool_names_a_mistyped_dataset_type_in_one_sentence(tmp_path):
    """The test dataset is built inside the Runner's test loop, past the checkpoint check."""
    checkpoint = tmp_path / 'weights.pth'
    torch.save(dict(meta={}, state_dict=init_model(str(CONFIG)).state_dict()), checkpoint)
    result = run_in_process(
        load_script(ROOT / 'tools/test.py', 'test_tool'), CONFIG, checkpoint, '--work-dir',
        tmp_path / 'work', '--cfg-options', 'test_dataloader.dataset.type=Market1502')
    assert (result.returncode, result.stderr.strip()) == (
        1, "type='Market1502' is not in the rga_mm::dataset registry; did you mean "
           "'Market1501'?")
