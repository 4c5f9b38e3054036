"""Bad inputs to the real tools stop them early with one sentence naming the file and the fix,
instead of a bare library error hours into a run or a wrong number with exit status 0.

Images: a copy of the tiny synthetic Market-1501 with an empty training image and a
truncated gallery image. Checkpoints: files that are no checkpoint, hold weights only, or
hold another model's tensors. Command line: ``--resume`` with nothing to resume, a mistyped
``--cfg-options`` key or one that would change nothing, ``--out`` into a missing folder, a
classifier smaller than the training identities. The demo config is shrunk as in
demo_runs.py; the tools run in this process (``main(argv)``) except where a DataLoader
worker process matters.
"""
import json
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import NamedTuple

import pytest
import torch

from rga_mm.apis import init_model
from rga_mm.models.reid import ReIDModel
from demo_runs import CONFIG, ROOT, args, demo_overrides, tool
from tool_runs import run_in_process

pytestmark = pytest.mark.slow


class BrokenMarket(NamedTuple):
    root: Path
    empty: Path  # a training image of 0 bytes
    truncated: Path  # a gallery image cut to its first 300 bytes


@pytest.fixture
def broken_market(tiny_market, tmp_path) -> BrokenMarket:
    """A copy of the shared tree (which must stay intact) with two unreadable images.

    The empty image belongs to an identity with at most 4 training images, all of which
    every epoch draws (IdentityBatchSampler, K = 4)."""
    root = tmp_path / tiny_market.name
    shutil.copytree(tiny_market, root)
    by_identity = defaultdict(list)
    for image in sorted((root / 'bounding_box_train').glob('*.jpg')):
        by_identity[image.name[:4]].append(image)
    empty = next(images[0] for images in by_identity.values() if len(images) <= 4)
    empty.write_bytes(b'')
    truncated = sorted((root / 'bounding_box_test').glob('0[0-9][0-9][1-9]_*.jpg'))[0]
    truncated.write_bytes(truncated.read_bytes()[:300])
    return BrokenMarket(root, empty, truncated)


@pytest.fixture
def weights(tmp_path) -> Path:
    """A weights-only checkpoint of the shrunk demo model (8 training identities)."""
    path = tmp_path / 'weights.pth'
    model = init_model(CONFIG, cfg_options={'model.head.num_classes': 8})
    torch.save({'state_dict': model.state_dict()}, path)
    return path


@pytest.fixture
def foreign(tmp_path) -> Path:
    """A checkpoint of some other model: none of the demo model's tensors."""
    path = tmp_path / 'foreign.pth'
    torch.save({'state_dict': {'encoder.weight': torch.zeros(4, 4)}}, path)
    return path


def test_check_dataset_lists_exactly_the_unreadable_images(broken_market, tiny_market, capsys):
    check_dataset = tool('tools/misc/check_dataset.py')
    for nproc in ('1', '2'):
        assert check_dataset.main(args(CONFIG, '--nproc', nproc,
                                       *demo_overrides(broken_market.root, 1))) == 1
        out = capsys.readouterr().out
        listed = dict(re.findall(r'^(/\S+\.jpg): (.+)$', out, re.MULTILINE))
        assert listed.keys() == {str(broken_market.empty), str(broken_market.truncated)}
        assert listed[str(broken_market.empty)] == 'the file is empty (0 bytes)'
        assert 'cv2 cannot decode' in listed[str(broken_market.truncated)]
        assert '2 of ' in out
    assert check_dataset.main(args(CONFIG, *demo_overrides(tiny_market, 1))) == 0
    assert re.search(r'all \d+ images can be read', capsys.readouterr().out)
    missing = broken_market.root.parent / 'no_such_root'
    with pytest.raises(SystemExit, match=rf'train: Market-1501: data_root {missing} is not a '
                                         r'folder'):
        check_dataset.main(args(CONFIG, *demo_overrides(missing, 1)))


def test_training_names_the_empty_image(broken_market, tmp_path):
    """Read in a DataLoader worker process, as real runs do; the visualisation hook, which
    reads validation images before training, is left out."""
    result = subprocess.run(
        [sys.executable, 'tools/train.py', str(CONFIG), '--work-dir', str(tmp_path / 'work'),
         *demo_overrides(broken_market.root, 1), 'train_dataloader.num_workers=1',
         'custom_hooks=[]'],
        cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 1
    # the worker's sentence alone, not the traceback of the worker and of the Runner
    assert result.stderr.splitlines()[-1] == (
        f'cannot read image {broken_market.empty}: the file is empty (0 bytes); replace or '
        f'remove it (python tools/misc/check_dataset.py CONFIG lists every unreadable image '
        f'of a config)'), result.stderr[-3000:]
    assert 'Traceback' not in result.stderr


def test_a_test_refused_when_its_dataset_is_built_leaves_no_run_folder(tiny_market, weights,
                                                                       tmp_path):
    """A test split that is not there: refused before any image is embedded, and the work
    dir the Runner made for its log and config is removed, as a training run refused before
    it starts leaves none."""
    work_dir = tmp_path / 'test'
    missing = tmp_path / 'no_such_root'
    with pytest.raises(SystemExit, match=f'data_root {re.escape(str(missing))} is not a folder'):
        tool('tools/test.py').main(args(CONFIG, weights, '--work-dir', work_dir,
                                        *demo_overrides(missing, 1)))
    assert not work_dir.exists()


def test_testing_names_the_truncated_image(broken_market, weights, tmp_path):
    with pytest.raises(SystemExit, match=re.escape(
            f'cannot read image {broken_market.truncated}: 300 bytes that cv2 cannot decode')):
        tool('tools/test.py').main(args(CONFIG, weights, '--work-dir', tmp_path / 'test',
                                        *demo_overrides(broken_market.root, 1)))


def test_vis_attention_names_the_empty_image(broken_market, weights, tmp_path):
    with pytest.raises(SystemExit, match=re.escape(
            f'cannot read image {broken_market.empty}: the file is empty (0 bytes); replace '
            f'it or leave it out')):
        tool('tools/visualization/vis_attention.py').main(args(
            CONFIG, weights, broken_market.empty, '--out', tmp_path / 'vis',
            '--cfg-options', 'model.head.num_classes=8'))


def test_a_checkpoint_of_another_model_is_refused_unless_partial(tiny_market, foreign,
                                                                  weights, tmp_path):
    model = init_model(CONFIG, cfg_options={'model.head.num_classes': 8})
    num_keys = sum(not key.endswith('num_batches_tracked') for key in model.state_dict())
    refusal = (rf"checkpoint {re.escape(str(foreign))} does not fit the model built from the "
               rf"config: it misses {num_keys} of the model's {num_keys} keys "
               rf"\(backbone\.\S+, backbone\.\S+, backbone\.\S+, \.\.\.\) and has 1 keys the "
               rf"model does not have \(encoder\.weight\).* pass --partial-load")
    test, train = tool('tools/test.py'), tool('tools/train.py')
    with pytest.raises(SystemExit, match=refusal):
        test.main(args(CONFIG, foreign, '--work-dir', tmp_path / 'test',
                       *demo_overrides(tiny_market, 1)))
    with pytest.raises(SystemExit, match=refusal):
        tool('tools/visualization/vis_attention.py').main(args(
            CONFIG, foreign, next((tiny_market / 'query').glob('*.jpg')), '--out',
            tmp_path / 'vis', '--cfg-options', 'model.head.num_classes=8'))
    with pytest.raises(SystemExit, match=refusal):
        train.main(args(CONFIG, '--work-dir', tmp_path / 'train',
                        *demo_overrides(tiny_market, 1), f'load_from={foreign}'))

    # --partial-load loads what fits on purpose, but a checkpoint that fills no tensor at all
    # would leave the whole model random
    with pytest.raises(SystemExit, match=rf'checkpoint {re.escape(str(foreign))} shares no '
                                         rf"tensor with the model .* none of the model's "
                                         rf'{num_keys} tensors has its name and shape in it'):
        test.main(args(CONFIG, foreign, '--partial-load', '--work-dir', tmp_path / 'none',
                       *demo_overrides(tiny_market, 1)))
    headless = tmp_path / 'headless.pth'
    torch.save({'state_dict': {key: value for key, value in torch.load(
        weights, weights_only=True)['state_dict'].items() if not key.startswith('head.')}},
               headless)
    out = tmp_path / 'partial.json'  # on purpose: the switch evaluates what loads
    test.main(args(CONFIG, headless, '--partial-load', '--work-dir', tmp_path / 'partial',
                   '--out', out, *demo_overrides(tiny_market, 1)))
    assert 'reid/mAP' in json.loads(out.read_text())


def test_an_extra_tensor_is_refused(tiny_market, weights, tmp_path):
    checkpoint = torch.load(weights, weights_only=True)
    checkpoint['state_dict']['neck.extra.weight'] = torch.zeros(1)
    extra = tmp_path / 'extra.pth'
    torch.save(checkpoint, extra)
    with pytest.raises(SystemExit, match=r'has 1 keys the model does not have '
                                         r'\(neck\.extra\.weight\)'):
        tool('tools/test.py').main(args(CONFIG, extra, '--work-dir', tmp_path / 'test',
                                        *demo_overrides(tiny_market, 1)))


def _truncated_checkpoint(path: Path, weights: Path) -> None:
    data = weights.read_bytes()
    path.write_bytes(data[:len(data) // 2])


def _bare_state_dict(path: Path, weights: Path) -> None:
    torch.save(torch.load(weights, weights_only=True)['state_dict'], path)


@pytest.mark.parametrize('make, what', [
    (lambda path, weights: path.write_bytes(b''), r'is an empty file \(0 bytes\), not a '
                                                  r'checkpoint'),
    (_truncated_checkpoint, r'\(\d+ bytes\) is a PyTorch file that is truncated or corrupt'),
    (lambda path, weights: path.write_text('epoch = 3\n'), 'is not a PyTorch checkpoint'),
    (lambda path, weights: shutil.copy(weights, path), 'holds weights only'),
    (_bare_state_dict, 'holds weights only'),
], ids=['empty', 'truncated', 'not-a-checkpoint', 'state-dict-file', 'bare-state-dict'])
def test_resume_names_what_the_file_is(make, what, weights, tiny_market, tmp_path):
    path = tmp_path / 'resume_from.pth'
    make(path, weights)
    with pytest.raises(SystemExit, match=re.escape(str(path)) + '.*' + what) as stopped:
        tool('tools/train.py').main(args(CONFIG, '--work-dir', tmp_path / 'work',
                                         '--resume', path, *demo_overrides(tiny_market, 1)))
    if 'weights only' in what:  # and says how to start from those weights instead
        assert f'--cfg-options load_from={path} instead of --resume' in str(stopped.value)


def test_resume_without_a_checkpoint_stops_and_resume_or_start_starts(tiny_market, tmp_path):
    train = tool('tools/train.py')
    work_dir = tmp_path / 'work'
    with pytest.raises(SystemExit, match=rf'--resume found no checkpoint to resume from in '
                                         rf'{re.escape(str(work_dir))}.*--resume-or-start'):
        train.main(args(CONFIG, '--work-dir', work_dir, '--resume',
                        *demo_overrides(tiny_market, 1)))
    assert not (work_dir / 'epoch_1.pth').exists()

    train.main(args(CONFIG, '--work-dir', work_dir, '--resume-or-start',
                    *demo_overrides(tiny_market, 1), 'custom_hooks=[]'))
    assert torch.load(work_dir / 'epoch_1.pth', weights_only=True)['meta']['epoch'] == 1


def test_a_mistyped_cfg_option_names_the_closest_key(tiny_market, tmp_path):
    with pytest.raises(SystemExit, match=r"--cfg-options randomnes.seed: the config \S+ has "
                                         r"no top-level key 'randomnes'.*did you mean "
                                         r"'randomness'\?"):
        tool('tools/train.py').main(args(CONFIG, '--work-dir', tmp_path / 'work',
                                         *demo_overrides(tiny_market, 1), 'randomnes.seed=5'))


def test_out_into_a_missing_folder_creates_it(tiny_market, weights, tmp_path):
    """As mmengine's ``dump`` does: here a folder inside the work dir the run creates."""
    out = tmp_path / 'test' / 'results' / 'metrics.json'
    tool('tools/test.py').main(args(CONFIG, weights, '--work-dir', tmp_path / 'test',
                                    '--out', out, *demo_overrides(tiny_market, 1)))
    assert 'reid/mAP' in json.loads(out.read_text())


def test_missing_data_and_folders_given_as_files_stop_in_one_sentence(weights, tmp_path):
    """Found when the Runner builds its data loaders, inside train() / test()."""
    missing = tmp_path / 'no_data'
    not_a_folder = rf'Market-1501: data_root {re.escape(str(missing))} is not a folder'
    with pytest.raises(SystemExit, match=not_a_folder):
        tool('tools/train.py').main(args(CONFIG, '--work-dir', tmp_path / 'train',
                                         *demo_overrides(missing, 1)))
    test = tool('tools/test.py')
    with pytest.raises(SystemExit, match=not_a_folder):
        test.main(args(CONFIG, weights, '--work-dir', tmp_path / 'test',
                       *demo_overrides(missing, 1)))
    with pytest.raises(SystemExit, match=rf'checkpoint {re.escape(str(tmp_path))} is a folder; '
                                         r'give a checkpoint file'):
        test.main(args(CONFIG, tmp_path, '--work-dir', tmp_path / 'test'))
    with pytest.raises(SystemExit, match=rf'config {re.escape(str(tmp_path))} is a folder'):
        test.main(args(tmp_path, weights))


@pytest.mark.parametrize('option, message', [
    ('val_evaluator.topk=0', r'ReIDMetric: topk takes one or more ranks from 1 to max_rank '
                             r'\(50\), got \(0,\)'),
    ('model.head.num_classes=5', r'the training data has 8 identities but the re-ID '
                                 r'classifier has 5 outputs, one per identity: set '
                                 r'model\.head\.num_classes=8'),
    ('model.backbone.attentions.layer1.spatial_size=(9,9)',
     r"StageAttentionBackbone stage 'layer1' \(attentions\['layer1'\]\): RGA was built for "
     r'a 9×9 map but received \d+×\d+; build it with spatial_size=')])
def test_a_setting_a_component_cannot_take_stops_train_in_one_sentence(tiny_market, tmp_path,
                                                                       option, message):
    """Raised as the Runner builds the evaluator, before the first training iteration (the
    classifier's size) and at it (the RGA module's map size): the sentence alone, exit
    status 1."""
    result = run_in_process(tool('tools/train.py'), CONFIG, '--work-dir', tmp_path / 'work',
                            *demo_overrides(tiny_market, 1), 'custom_hooks=[]', option)
    assert result.returncode == 1
    assert re.fullmatch(message + r'.*\n', result.stderr), result.stderr[-3000:]


CUSTOM_FOLDERS = ROOT / 'configs/reid/rga-sc_r50-ls1_1xb64-600e_custom-folders-256x128.py'
INSTEAD_OF_DATA_ROOT = ('set train_dataloader.dataset.data_root, val_dataloader.dataset.data_root '
                        'and test_dataloader.dataset.data_root instead')


@pytest.mark.parametrize('path, config, option, instead', [
    ('tools/misc/check_dataset.py', CONFIG, 'data_root=/tmp/x', INSTEAD_OF_DATA_ROOT),
    ('tools/misc/check_dataset.py', CUSTOM_FOLDERS, 'reid_dataset.data_root=/tmp/x',
     INSTEAD_OF_DATA_ROOT),
    ('tools/train.py', CONFIG, 'input_size=(128,64)',
     'write a config that inherits this one and restates the sizes derived from input_size '
     '(docs/reid.md, "Another input size")')])
def test_a_config_files_helper_variable_is_refused_by_the_tools(path, config, option, instead,
                                                                tmp_path):
    """The file used the variable while it was read (the dataloaders hold the data root, the
    pipelines and RGA modules the input size): the tools used to run on with the old value."""
    key, top = option.split('=')[0], option.split('.')[0].split('=')[0]
    with pytest.raises(SystemExit, match='^' + re.escape(
            f'--cfg-options {key}: {top} is a variable of the config {config} that the Runner '
            f'does not read, and its value was already used when the config file was read, so '
            f'setting it now changes nothing; {instead}') + '$'):
        tool(path).main(args(config, '--work-dir', tmp_path / 'work', '--cfg-options', option)
                        if path.endswith('train.py') else args(config, '--cfg-options', option))
    assert not (tmp_path / 'work').exists()


def test_a_classifier_smaller_than_the_identities_stops_before_the_first_iteration(
        tiny_market, tmp_path, monkeypatch):
    """8 training identities, 5 outputs: stopped once the training data is loaded, before any
    batch is drawn (it used to stop at the first batch holding a label of 5 or more)."""
    steps = []
    monkeypatch.setattr(ReIDModel, 'train_step', lambda *_, **__: steps.append(1))
    with pytest.raises(SystemExit, match=r'^the training data has 8 identities but the re-ID '
                                         r'classifier has 5 outputs, one per identity: set '
                                         r'model\.head\.num_classes=8$'):
        tool('tools/train.py').main(args(CONFIG, '--work-dir', tmp_path / 'work',
                                         *demo_overrides(tiny_market, 1), 'custom_hooks=[]',
                                         'model.head.num_classes=5'))
    assert steps == []
