"""tools/search.py on the own-data layout of docs/reid.md ("Train on your own data"): a
gallery of one folder per person is searched through its person folders, and the whole
folder, which holds no image directly, is refused with that fix."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from rga_mm.apis import init_model
from rga_mm.testing import load_script

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / 'configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'


@pytest.fixture(scope='module')
def search():
    tool = load_script(ROOT / 'tools/search.py', 'search_tool_person_folders')
    return lambda *argv: tool.main([str(arg) for arg in argv])


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp('model') / 'model.pth'
    torch.save({'state_dict': init_model(CONFIG).state_dict()}, path)
    return path


def _person_folders(root: Path) -> Path:
    """data_root with gallery/0005, gallery/0006 (3 images each) and query/0005, query/0006
    (1 image each)."""
    rng = np.random.default_rng(0)
    for identity in (5, 6):
        for split, count in (('gallery', 3), ('query', 1)):
            folder = root / split / f'{identity:04d}'
            folder.mkdir(parents=True)
            for n in range(count):
                image = rng.integers(0, 256, (64, 32, 3), dtype=np.uint8)
                cv2.imwrite(str(folder / f'{identity:04d}_c{n % 2 + 1}_{split}{n}.png'), image)
    return root


def test_a_gallery_of_person_folders_is_searched_through_them(search, checkpoint, tmp_path):
    data = _person_folders(tmp_path / 'my_reid')
    person_folders = sorted((data / 'gallery').iterdir())
    summary = search(CONFIG, checkpoint, '--gallery', *person_folders,
                     '--query', *sorted((data / 'query').iterdir()),
                     '--out', tmp_path / 'out', '--topk', 6)
    assert summary['num_gallery'] == 6 and summary['num_queries'] == 2
    report = json.loads((tmp_path / 'out/results.json').read_text())
    assert report['gallery'] == [str(folder) for folder in person_folders]
    gallery_images = sorted(str(path) for path in (data / 'gallery').glob('*/*.png'))
    for entry in report['queries']:  # every image of both person folders, ranked
        assert sorted(entry['gallery']) == gallery_images
        assert len(entry['distances']) == 6 and Path(entry['png']).is_file()


def test_the_whole_folder_of_person_folders_is_refused_with_the_fix(search, checkpoint,
                                                                    tmp_path):
    data = _person_folders(tmp_path / 'my_reid')
    gallery = data / 'gallery'
    with pytest.raises(SystemExit, match=rf'^gallery folder {gallery} holds no image directly, '
                                         r'only subfolders of images .*give them instead: '
                                         rf'--gallery {gallery}/\*$'):
        search(CONFIG, checkpoint, '--gallery', gallery, '--query', data / 'query/0005')
    with pytest.raises(SystemExit, match=rf'give them instead: --query {data / "query"}/\*$'):
        search(CONFIG, checkpoint, '--gallery', gallery / '0005', '--query', data / 'query')


def test_the_fix_for_a_folder_of_person_folders_can_be_pasted_with_spaces_in_its_path(
        search, checkpoint, tmp_path):
    """The folder's path is quoted for the shell, the glob after it is not."""
    data = _person_folders(tmp_path / 'my reid')
    gallery = data / 'gallery'
    with pytest.raises(SystemExit) as stop:
        search(CONFIG, checkpoint, '--gallery', gallery, '--query', data / 'query/0005')
    assert str(stop.value).endswith(f"give them instead: --gallery '{gallery}'/*")
