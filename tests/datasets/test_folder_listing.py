"""One rule for which folder entries are images, shared by the datasets, the inferencer and
the tools: suffix in any case, hidden entries and OS metadata left out, links followed and
those that lead nowhere (dangling, or a loop) left out instead of crashing the listing."""
import logging
import os.path as osp
import shutil
from pathlib import Path

import pytest

from rga_mm.datasets import CustomReIDFolders, Market1501
from rga_mm.datasets.folder_listing import (
    IMAGE_SUFFIXES,
    dangling_links_notice,
    image_files,
    image_files_with_notice,
    unread_subfolders_notice,
)
from reid_trees import add_links_that_lead_nowhere, write_image

SUBFOLDER_LIKE_AN_IMAGE = 'album.jpg'


def test_image_files_lists_only_visible_image_files(tmp_path):
    for name in ('b.jpg', 'A.PNG', 'c.tif', 'd.WebP', 'e.gif', 'f.JFIF', 'g.ppm', 'notes.txt',
                 'Thumbs.db', '.DS_Store', '._b.jpg', '.hidden.jpg'):
        (tmp_path / name).touch()
    (tmp_path / SUBFOLDER_LIKE_AN_IMAGE).mkdir()
    (tmp_path / '__MACOSX').mkdir()
    (tmp_path / 'linked.jpg').symlink_to(tmp_path / 'b.jpg')
    add_links_that_lead_nowhere(tmp_path)
    assert [Path(path).name for path in image_files(tmp_path)] == [
        'A.PNG', 'b.jpg', 'c.tif', 'd.WebP', 'e.gif', 'f.JFIF', 'g.ppm', 'linked.jpg']


def test_images_under_other_suffixes_are_named_not_read(tmp_path):
    """A file whose first bytes OpenCV recognises as an image it decodes, but whose name
    ends in no image suffix, is named; other files (Thumbs.db, notes) are not."""
    write_image(str(tmp_path / 'top.jpg'))
    (tmp_path / 'notes.txt').write_text('not an image')
    (tmp_path / 'Thumbs.db').write_bytes(b'\xd0\xcf\x11\xe0' + bytes(60))
    told = []
    assert image_files_with_notice(tmp_path, told.append) == [str(tmp_path / 'top.jpg')]
    assert told == []
    for name in ('photo', 'saved.jpg_large'):
        shutil.copy(tmp_path / 'top.jpg', tmp_path / name)
    assert image_files_with_notice(tmp_path, told.append) == [str(tmp_path / 'top.jpg')]
    assert told == [f'{tmp_path}: 2 image file(s) not read, their names ending in none of '
                    f'{", ".join(IMAGE_SUFFIXES)} (the first: {tmp_path / "photo"}); rename '
                    f'them to one of these suffixes to read them']


def test_links_that_lead_nowhere_are_named_not_read(tmp_path):
    """An image or a subfolder linked from an unmounted drive, or a loop of links: one
    notice says how many and names the first with where it points; a hidden one is not
    counted."""
    write_image(str(tmp_path / 'top.jpg'))
    told = []
    assert image_files_with_notice(tmp_path, told.append) == [str(tmp_path / 'top.jpg')]
    assert told == [] and dangling_links_notice(tmp_path) is None
    add_links_that_lead_nowhere(tmp_path)  # dangling.jpg, a loop of loopA and loopB.jpg
    (tmp_path / 'cam2').symlink_to(tmp_path / 'unmounted' / 'cam2')
    (tmp_path / '.hidden.jpg').symlink_to('nowhere.jpg')
    assert image_files_with_notice(tmp_path, told.append) == [str(tmp_path / 'top.jpg')]
    assert told == [f'{tmp_path}: 4 link(s) that lead nowhere not read (the first: '
                    f'{tmp_path / "cam2"} → {tmp_path / "unmounted" / "cam2"}); mount or '
                    f'restore what they point to (an unmounted drive?), or remove them']


def test_a_folder_of_hidden_images_holds_no_image(tmp_path):
    (tmp_path / '._a.jpg').touch()
    with pytest.raises(ValueError, match=rf'folder {tmp_path} holds no image file \(.jpg, '):
        image_files(tmp_path)


def test_a_folder_of_image_folders_is_told_to_give_them_instead(tmp_path):
    folder = tmp_path / 'my gallery'  # the glob suggested is quoted for a shell
    for person in ('0002', '0001'):
        (folder / person).mkdir(parents=True)
        (folder / person / 'a.jpg').touch()
    with pytest.raises(ValueError) as error:
        image_files(folder)
    assert str(error.value) == (
        f'folder {folder} holds no image file ({", ".join(IMAGE_SUFFIXES)}), only '
        f'subfolders of images (the first: {folder / "0001"}), which are not read: give '
        f"those subfolders instead (e.g. '{folder}'/*)")
    told = []  # the refusal names the subfolders: no notice of them before it
    with pytest.raises(ValueError):
        image_files_with_notice(folder, told.append)
    assert told == []


def test_subfolders_of_images_are_named_not_read(tmp_path):
    """Only visible subfolders holding an image directly count; their images stay out of
    the listing."""
    (tmp_path / 'top.jpg').touch()
    assert unread_subfolders_notice(tmp_path) is None
    for name in ('.ipynb_checkpoints', '__MACOSX', 'notes', 'cam1/deeper'):
        (tmp_path / name).mkdir(parents=True)
    (tmp_path / '.ipynb_checkpoints' / 'a.jpg').touch()
    (tmp_path / '__MACOSX' / 'a.jpg').touch()
    (tmp_path / 'notes' / 'a.txt').touch()
    (tmp_path / 'cam1' / 'deeper' / 'a.jpg').touch()  # two levels down: cam1 holds none
    add_links_that_lead_nowhere(tmp_path / 'notes')
    assert unread_subfolders_notice(tmp_path) is None
    (tmp_path / 'cam2').mkdir()
    (tmp_path / 'cam2' / 'b.PNG').touch()
    assert unread_subfolders_notice(tmp_path) == (
        f'{tmp_path} has 1 subfolder of images that are not read (the first: '
        f'{tmp_path / "cam2"}): only the images directly in a folder are read; move them up, '
        f'or give such a subfolder as a folder of its own')
    (tmp_path / 'linked').symlink_to(tmp_path / 'cam2')
    assert unread_subfolders_notice(tmp_path).startswith(
        f'{tmp_path} has 2 subfolders of images that are not read (the first: '
        f'{tmp_path / "cam2"})')
    assert [Path(path).name for path in image_files(tmp_path)] == ['top.jpg']


def dataset_items(dataset) -> list[tuple[str, int, int]]:
    return [(osp.basename(info['img_path']), info['gt_label'], info['camera_id'])
            for info in map(dataset.get_data_info, range(len(dataset)))]


@pytest.mark.parametrize('split', ['train', 'test'])
def test_market1501_skips_links_that_lead_nowhere(tiny_market, tmp_path, split):
    root = tmp_path / 'market'
    shutil.copytree(tiny_market, root)
    for folder in ('bounding_box_train', 'query', 'bounding_box_test'):
        add_links_that_lead_nowhere(root / folder)
    assert (dataset_items(Market1501(data_root=str(root), split=split))
            == dataset_items(Market1501(data_root=str(tiny_market), split=split)))


def test_layout_hints_look_past_a_loop_of_links(tiny_market, tmp_path):
    (tmp_path / 'market').symlink_to(tiny_market)
    add_links_that_lead_nowhere(tmp_path)
    with pytest.raises(FileNotFoundError, match=rf'did you mean data_root={tmp_path}/market\?'):
        Market1501(data_root=str(tmp_path))


def test_person_folders_list_every_image_suffix_and_skip_loops(tmp_path):
    for name in ('0001_c1_0.jpg', '0001_c2_1.tif', '0001_c3_2.webp'):
        (tmp_path / 'train' / '0001').mkdir(parents=True, exist_ok=True)
        write_image(str(tmp_path / 'train' / '0001' / name))
    for split in ('query', 'gallery'):
        (tmp_path / split / '0002').mkdir(parents=True)
        (tmp_path / split / '0002' / '0002_c1_0.jpg').touch()
    add_links_that_lead_nowhere(tmp_path / 'train' / '0001')
    dataset = CustomReIDFolders(data_root=str(tmp_path), camera_pattern=r'_c(?P<camera>\d)_')
    assert dataset_items(dataset) == [('0001_c1_0.jpg', 0, 1), ('0001_c2_1.tif', 0, 2),
                                      ('0001_c3_2.webp', 0, 3)]


def test_person_folders_name_the_images_they_do_not_read(tmp_path, monkeypatch):
    """Images under another suffix and subfolders of images, in any person folder of a
    split, get one logged warning each; the images read are unchanged."""
    warnings = []
    monkeypatch.setattr('rga_mm.datasets.custom_folders.print_log',
                        lambda message, logger=None, level=logging.INFO:
                        warnings.append(message) if level == logging.WARNING else None)
    for split, person in (('train', '0001'), ('train', '0003'), ('query', '0002'),
                          ('gallery', '0002')):
        (tmp_path / split / person).mkdir(parents=True)
        write_image(str(tmp_path / split / person / f'{person}_c1_0.jpg'))
    (tmp_path / 'train' / '0001' / 'notes.txt').write_text('not an image')
    read = dataset_items(CustomReIDFolders(data_root=str(tmp_path)))
    assert warnings == []

    train = tmp_path / 'train'
    for person in ('0001', '0003'):
        shutil.copy(train / person / f'{person}_c1_0.jpg', train / person / 'photo')
    (train / '0003' / 'cam2').mkdir()
    write_image(str(train / '0003' / 'cam2' / '0003_c2_0.jpg'))
    assert dataset_items(CustomReIDFolders(data_root=str(tmp_path))) == read
    where = f'CustomReIDFolders, the person folders of {train}'
    assert warnings == [
        f'{where}: 2 image file(s) not read, their names ending in none of '
        f'{", ".join(IMAGE_SUFFIXES)} (the first: {train / "0001" / "photo"}); rename them to '
        f'one of these suffixes to read them',
        f'{where}: 1 subfolder(s) of images not read (the first: {train / "0003" / "cam2"}); '
        f'only the images directly in a person folder are read: move them up into it '
        f"(camera_pattern reads each image's camera from its file name)"]


def test_person_folders_name_the_links_that_lead_nowhere(tmp_path, monkeypatch):
    """A person folder linked from an unmounted drive, or images linked to missing files:
    the identity or images are left out, so one warning says how many and the first."""
    warnings = []
    monkeypatch.setattr('rga_mm.datasets.custom_folders.print_log',
                        lambda message, logger=None, level=logging.INFO:
                        warnings.append(message) if level == logging.WARNING else None)
    train = tmp_path / 'train'
    (train / '0001').mkdir(parents=True)
    write_image(str(train / '0001' / '0001_c1_0.jpg'))
    add_links_that_lead_nowhere(train / '0001')  # dangling.jpg, a loop of loopA and loopB.jpg
    (train / '0005').symlink_to(tmp_path / 'unmounted' / '0005')
    dataset = CustomReIDFolders(data_root=str(tmp_path))
    assert dataset_items(dataset) == [('0001_c1_0.jpg', 0, 0)]
    assert warnings == [
        f'CustomReIDFolders, the person folders of {train}: 4 link(s) that lead nowhere not '
        f'read (the first: {train / "0001" / "dangling.jpg"} → nowhere.jpg); mount or restore '
        f'what they point to (an unmounted drive?), or remove them']
