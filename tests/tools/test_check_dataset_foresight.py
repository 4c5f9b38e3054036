"""tools/misc/check_dataset.py on your own re-ID data: what the evaluators would refuse when
the run reaches its first validation, and train identities that the test split holds too."""
import re
from pathlib import Path

import pytest

from rga_mm.testing import load_script
from reid_trees import write_image

ROOT = Path(__file__).parents[2]
FOLDERS_CONFIG = ROOT / 'configs/reid/rga-sc_r50-ls1_1xb64-600e_custom-folders-256x128.py'
ANNOTATIONS_CONFIG = (ROOT /
                      'configs/reid/rga-sc_r50-ls1_1xb64-600e_custom-annotations-256x128.py')
# person 5 and 9 are the test identities; train holds 3 and 7
IMAGES = ['train/0003/0003_c1_000.jpg', 'train/0003/0003_c2_001.jpg',
          'train/0007/0007_c1_000.jpg', 'train/0007/0007_c2_001.jpg',
          'query/0005/0005_c1_000.jpg', 'query/0009/0009_c2_000.jpg',
          'gallery/0005/0005_c2_001.jpg', 'gallery/0009/0009_c1_001.jpg']


@pytest.fixture(scope='module')
def check_dataset():
    return load_script(ROOT / 'tools/misc/check_dataset.py')


def write_folders(root: Path, paths: list[str]) -> Path:
    for path in paths:
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        write_image(str(root / path))
    return root


def data_options(root: Path, *extra: str) -> list[str]:
    return ['--cfg-options', *(f'{split}_dataloader.dataset.{key}'
                               for split in ('train', 'val', 'test')
                               for key in (f'data_root={root}', *extra))]


def test_own_data_in_order_passes_without_a_warning(check_dataset, tmp_path, capsys):
    root = write_folders(tmp_path / 'data', IMAGES)
    assert check_dataset.main([str(FOLDERS_CONFIG), *data_options(root)]) == 0
    out = capsys.readouterr().out
    assert 'all 8 images can be read' in out
    assert 'warning' not in out and 'ReIDMetric' not in out


def test_data_without_cameras_is_refused_as_the_first_validation_would(check_dataset, tmp_path,
                                                                        capsys):
    """Without a camera pattern every image is camera 0, which ReIDMetric's camera rule
    refuses when the validation loop is built: listed here, before any training."""
    root = write_folders(tmp_path / 'data', IMAGES)
    assert check_dataset.main([str(FOLDERS_CONFIG),
                               *data_options(root, 'camera_pattern=None')]) == 1
    out = capsys.readouterr().out
    assert 'all 8 images can be read' in out
    refusals = re.findall(r'^(val|test): ReIDMetric: every query and gallery image comes from '
                          r'camera 0, .* set exclude_same_camera=False in val_evaluator and '
                          r'test_evaluator', out, re.MULTILINE)
    assert refusals == ['val', 'test']
    assert check_dataset.main([
        str(FOLDERS_CONFIG), *data_options(root, 'camera_pattern=None'),
        'val_evaluator.exclude_same_camera=False',
        'test_evaluator.exclude_same_camera=False']) == 0
    assert 'ReIDMetric' not in capsys.readouterr().out


def test_queries_seen_by_their_own_camera_only_are_refused_as_the_first_validation_would(
        check_dataset, tmp_path, capsys):
    """Several cameras, but person 5 is a query and in the gallery under camera 1 only, and
    person 9 under camera 2 only: no query has a true match under the camera rule."""
    same_camera = [path.replace('_c2_001', '_c1_001') if path.startswith('gallery/0005') else
                   path.replace('_c1_001', '_c2_001') for path in IMAGES]
    root = write_folders(tmp_path / 'data', same_camera)
    assert check_dataset.main([str(FOLDERS_CONFIG), *data_options(root)]) == 1
    assert re.findall(r'^(val|test): ReIDMetric: no query has a gallery image of its identity '
                      r'from another camera', capsys.readouterr().out, re.MULTILINE) == [
        'val', 'test']


def test_train_identities_in_the_test_split_are_named_in_a_warning(check_dataset, tmp_path,
                                                                   capsys):
    root = write_folders(tmp_path / 'data', IMAGES + ['query/0007/0007_c3_002.jpg',
                                                      'gallery/0007/0007_c4_003.jpg',
                                                      'gallery/0003/0003_c4_004.jpg'])
    assert check_dataset.main([str(FOLDERS_CONFIG), *data_options(root)]) == 0
    warnings = [line for line in capsys.readouterr().out.splitlines() if 'warning' in line]
    # the val and test dataloaders share one dataset: one warning
    assert warnings == [f'warning: val/test: 2 identities of the train split also in the test '
                        f'split of {root} (3, 7): their scores count people the model was '
                        f'trained on; the public benchmarks keep the identities of training '
                        f'and testing apart']


def test_annotations_compare_identities_of_one_file_only(check_dataset, tmp_path, capsys):
    """Person 7 trains and is tested in one annotation file; a second file that numbers its
    people from 3 too holds other people."""
    shared = ['query/0007/0007_c3_002.jpg', 'gallery/0007/0007_c4_003.jpg']
    root = write_folders(tmp_path / 'data', IMAGES + shared)
    rows = ['img_path,person_id,camera_id,split'] + [
        f'{path},{int(path.split("/")[1])},{path[-9]},{path.split("/")[0]}'
        for path in IMAGES + shared]
    (root / 'annotations.csv').write_text('\n'.join(rows) + '\n')
    (root / 'other.csv').write_text('\n'.join(rows[:5]) + '\n')  # the train rows only
    assert check_dataset.main([str(ANNOTATIONS_CONFIG), *data_options(root)]) == 0
    out = capsys.readouterr().out
    assert re.findall(r'^warning: .*', out, re.MULTILINE) == [
        f'warning: val/test: 1 identity of the train split also in the test split of '
        f'{root}/annotations.csv (7): their scores count people the model was trained on; the '
        f'public benchmarks keep the identities of training and testing apart']
    assert check_dataset.main([str(ANNOTATIONS_CONFIG), *data_options(root),
                               f'train_dataloader.dataset.ann_file={root}/other.csv']) == 0
    assert 'warning' not in capsys.readouterr().out


@pytest.mark.parametrize('config, key', [(FOLDERS_CONFIG, 'data_root'),
                                         (ANNOTATIONS_CONFIG, 'ann_file')])
def test_a_path_that_the_command_line_splits_at_a_comma_is_refused(check_dataset, tmp_path,
                                                                   config, key):
    """--cfg-options reads ``/data/reid,v2`` as a list, on which mmengine fails a bare
    assertion: the dataset names the setting and where such a path belongs."""
    root = write_folders(tmp_path / 'data', IMAGES)
    with pytest.raises(SystemExit, match=rf"^train: CustomReID\w+: {key} must be a path, got "
                                         rf"the list \['{tmp_path}/reid', 'v2'\]; "
                                         r'--cfg-options reads a value with commas as a list '
                                         r'.* set such a path in a config file$'):
        check_dataset.main([str(config), *data_options(root),
                            f'train_dataloader.dataset.{key}={tmp_path}/reid,v2'])
