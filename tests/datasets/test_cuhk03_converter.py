"""tools/dataset_converters/cuhk03.py on a tiny cuhk-03.mat (MATLAB v7.3 = HDF5) with
new-protocol split files (MATLAB v5), then rga_mm.CUHK03 on its output."""
import os
import os.path as osp
import re

import cv2
import h5py
import numpy as np
import pytest
from scipy.io import loadmat, savemat

from rga_mm.datasets import CUHK03
from rga_mm.testing import load_script

CONVERTER = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'dataset_converters',
                     'cuhk03.py')
# camera pair → persons → image indices (1..10) present; 1-5 are view 1, 6-10 view 2
PRESENT = {1: {1: [1, 2, 6], 2: [1, 7, 8]}, 2: {1: [3, 6, 10]}}
LABELS = {(1, 1): 1, (1, 2): 2, (2, 1): 3}  # the protocol's identity of (pair, person)
SPLIT_KEYS = ('filelist', 'labels', 'camId', 'train_idx', 'query_idx', 'gallery_idx')


def image(box_type, pair, person, index):
    """A distinct (H, W, 3) RGB image: the pixel values encode where it comes from."""
    height, width = 6 + index, 4
    rgb = np.empty((height, width, 3), np.uint8)
    rgb[..., 0] = pair * 10 + np.arange(width)[None, :]
    rgb[..., 1] = person * 10 + np.arange(height)[:, None]
    rgb[..., 2] = index + (100 if box_type == 'detected' else 0)
    return rgb


def write_release(path):
    """cuhk-03.mat as MATLAB writes it: cell arrays of object references, each array stored
    with its axes reversed, empty cells as a (2,) uint64 array of zeros."""
    with h5py.File(path, 'w') as mat:
        refs = mat.create_group('#refs#')
        counter = iter(range(10**6))
        for box_type in ('labeled', 'detected'):
            pair_refs = []
            for pair, persons in PRESENT.items():
                cells = np.empty((10, len(persons)), h5py.ref_dtype)  # (10, persons)
                for person, indices in persons.items():
                    for index in range(1, 11):
                        data = (image(box_type, pair, person, index).T
                                if index in indices else np.zeros(2, np.uint64))
                        cells[index - 1, person - 1] = refs.create_dataset(
                            str(next(counter)), data=data).ref
                pair_refs.append(refs.create_dataset(str(next(counter)), data=cells).ref)
            mat.create_dataset(box_type, data=np.array([pair_refs], h5py.ref_dtype))


def write_split(path):
    """Train on identity 1; query = the first view-1 image of identities 2 and 3."""
    entries = [(pair, person, index) for pair, persons in PRESENT.items()
               for person, indices in persons.items() for index in indices]
    names = np.empty((len(entries), 1), object)
    names[:, 0] = [f'{pair}_{person:03d}_{1 if index <= 5 else 2}_{index:02d}.png'
                   for pair, person, index in entries]
    labels = [LABELS[pair, person] for pair, person, _ in entries]
    train = [i + 1 for i, label in enumerate(labels) if label == 1]
    query = [4, 7]  # 1_002_1_01.png, 2_001_1_03.png
    gallery = [i + 1 for i, label in enumerate(labels) if label != 1 and i + 1 not in query]
    column = lambda values: np.array(values, float)[:, None]  # noqa: E731
    savemat(path, dict(filelist=names, labels=column(labels),
                       camId=column([1 if index <= 5 else 2 for *_, index in entries]),
                       train_idx=column(train), query_idx=column(query),
                       gallery_idx=column(gallery)))


@pytest.fixture
def converter():
    return load_script(CONVERTER, 'cuhk03_converter')


@pytest.fixture
def release_root(tmp_path):
    root = tmp_path / 'cuhk03'
    (root / 'cuhk03_release').mkdir(parents=True)
    write_release(str(root / 'cuhk03_release' / 'cuhk-03.mat'))
    for box_type in ('labeled', 'detected'):
        write_split(str(root / f'cuhk03_new_protocol_config_{box_type}.mat'))
    return str(root)


def test_converter_writes_the_cuhk03_np_layout(converter, release_root, tmp_path, capsys):
    out = str(tmp_path / 'cuhk03-np')
    converter.main([release_root, out])
    assert 'labeled: bounding_box_train 3 images, query 2 images, bounding_box_test 4 ' \
        'images' in capsys.readouterr().out
    listing = {folder: sorted(os.listdir(osp.join(out, 'labeled', folder)))
               for folder in ('bounding_box_train', 'query', 'bounding_box_test')}
    assert listing == {
        'bounding_box_train': ['0001_c1_1.png', '0001_c1_2.png', '0001_c2_6.png'],
        'query': ['0002_c1_1.png', '0003_c1_3.png'],
        'bounding_box_test': ['0002_c2_7.png', '0002_c2_8.png', '0003_c2_10.png',
                              '0003_c2_6.png'],
    }
    # pixels survive the axis order of the .mat file and the BGR order of image files
    for box_type in ('labeled', 'detected'):
        written = cv2.imread(osp.join(out, box_type, 'query', '0003_c1_3.png'))
        np.testing.assert_array_equal(written[..., ::-1], image(box_type, 2, 1, 3))

    test = CUHK03(data_root=out, box_type='detected', split='test')
    data = [test.get_data_info(i) for i in range(len(test))]
    assert [(osp.basename(d['img_path']), d['gt_label'], d['camera_id'], d['is_query'])
            for d in data] == [
        ('0002_c1_1.png', 2, 0, True), ('0003_c1_3.png', 3, 0, True),
        ('0002_c2_7.png', 2, 1, False), ('0002_c2_8.png', 2, 1, False),
        ('0003_c2_10.png', 3, 1, False), ('0003_c2_6.png', 3, 1, False)]
    train = CUHK03(data_root=out, box_type='labeled', split='train')
    assert [train.get_data_info(i)['gt_label'] for i in range(len(train))] == [0, 0, 0]


def test_converter_names_a_missing_split_file(converter, release_root, tmp_path):
    os.remove(osp.join(release_root, 'cuhk03_new_protocol_config_detected.mat'))
    with pytest.raises(SystemExit,
                       match=r'cuhk03_new_protocol_config_detected\.mat not found; expected '
                             r'cuhk03_release.cuhk-03\.mat and'):
        converter.main([release_root, str(tmp_path / 'out')])


def test_converter_reports_each_stage_and_a_bar_over_every_image(converter, release_root,
                                                                 tmp_path, capsys):
    """The real release takes minutes: each stage says what it does, and each box type's
    progress, written to a pipe as here, is a plain line at each tenth of the N images its
    split file lists (no carriage-return update per image)."""
    # write_split puts every image of the release in train, query or gallery
    listed = sum(len(indices) for persons in PRESENT.values() for indices in persons.values())
    out = str(tmp_path / 'cuhk03-np')
    converter.main([release_root, out])
    printed = capsys.readouterr().out
    assert printed.startswith(
        f'Reading {osp.join(release_root, "cuhk03_release", "cuhk-03.mat")}\n')
    for box_type in ('labeled', 'detected'):
        section = printed[printed.index(f'{box_type}: indexing'):]
        stages = [f'{box_type}: indexing the images of cuhk03_release/cuhk-03.mat ...\n',
                  f'{box_type}: reading the splits of cuhk03_new_protocol_config_{box_type}.mat',
                  f'{box_type}: writing {listed} images to {osp.join(out, box_type)}\n',
                  f'{box_type}: bounding_box_train 3 images']
        positions = [section.index(stage) for stage in stages]
        assert positions == sorted(positions)
        progress = section[positions[2]:positions[3]]
        lines = re.findall(r'^written (\d+)/(\d+) images \((\d+) %\), \d+ s$', progress,
                           re.MULTILINE)
        done = [int(count) for count, _, _ in lines]
        assert {int(total) for _, total, _ in lines} == {listed} and '\r' not in progress
        assert done == sorted(done) and done[-1] == listed and len(done) <= 10
        assert sum(len(files) for _, _, files in os.walk(osp.join(out, box_type))) == listed


def truncate(path, size):
    """Cut the file at ``path`` to its first ``size`` bytes, as an interrupted download."""
    with open(path, 'r+b') as file:
        file.truncate(size)


@pytest.mark.parametrize('fault', ['random bytes', 'cut to 100 bytes', 'cut to 4000 bytes'])
def test_converter_names_a_release_file_that_is_no_hdf5(converter, release_root, tmp_path,
                                                       fault):
    """Random bytes, and truncated files: h5py refuses to open an HDF5 file shorter than its
    superblock says."""
    release = osp.join(release_root, 'cuhk03_release', 'cuhk-03.mat')
    if fault == 'random bytes':
        with open(release, 'wb') as file:
            file.write(np.random.default_rng(0).bytes(256))
    else:
        truncate(release, int(fault.split()[2]))
    with pytest.raises(SystemExit, match=rf'^{re.escape(release)} is not an HDF5 file '
                                         r'\(MATLAB v7\.3 \.mat\); the CUHK03 release'):
        converter.main([release_root, str(tmp_path / 'out')])


@pytest.mark.parametrize('contents', [{}, {'labeled': np.zeros(3)}])
def test_converter_names_a_release_file_without_its_cell_arrays(converter, release_root,
                                                                tmp_path, contents):
    """An HDF5 file lacking 'labeled', or holding numbers instead of object references."""
    release = osp.join(release_root, 'cuhk03_release', 'cuhk-03.mat')
    with h5py.File(release, 'w') as mat:
        for name, data in contents.items():
            mat.create_dataset(name, data=data)
    out = str(tmp_path / 'out')
    with pytest.raises(SystemExit, match=rf"^{re.escape(release)} holds no 'labeled' cell "
                                         r"array; the CUHK03 release's cuhk-03\.mat holds "
                                         r"'labeled' and 'detected'"):
        converter.main([release_root, out])
    assert not osp.exists(out)


def split_path(release_root, box_type='labeled'):
    return osp.join(release_root, f'cuhk03_new_protocol_config_{box_type}.mat')


def test_converter_names_an_image_the_release_lacks(converter, release_root, tmp_path):
    path = split_path(release_root)
    split = loadmat(path)
    split['filelist'][0, 0] = np.array(['9_999_1_01.png'])
    savemat(path, {key: split[key] for key in SPLIT_KEYS})
    with pytest.raises(SystemExit, match=rf'^{re.escape(path)} lists 9_999_1_01\.png, which '
                                         r'is not among the labeled images of cuhk03_rel'):
        converter.main([release_root, str(tmp_path / 'out')])


@pytest.mark.parametrize('index, again', [('query_idx', 'again'),
                                          ('gallery_idx', 'and in query_idx')])
def test_converter_names_an_image_a_split_file_lists_twice(converter, release_root, tmp_path,
                                                          index, again):
    """Written twice, its count would be one more than the files (or the image both a query
    and a gallery item); nothing is written."""
    path = split_path(release_root)
    split = loadmat(path)
    split[index] = np.vstack([split[index], split['query_idx'][:1]])
    savemat(path, {key: split[key] for key in SPLIT_KEYS})
    out = tmp_path / 'out'
    with pytest.raises(SystemExit) as stop:
        converter.main([release_root, str(out)])
    assert str(stop.value).startswith(f'{path} lists 1_002_1_01.png in {index} {again}; each '
                                      f'image belongs to one split once')
    assert not out.exists()


@pytest.mark.parametrize('kind', ['text', 'hdf5', 'cut to 100 bytes', 'cut to 400 bytes'])
def test_converter_names_a_split_file_it_cannot_read(converter, release_root, tmp_path, kind):
    """A file that is no .mat file, an HDF5 (MATLAB v7.3) one, which scipy cannot read, and
    truncated ones, on which scipy fails with an IndexError (100 bytes: within the header of
    the first array) or an OSError (400 bytes: within its data)."""
    path = split_path(release_root)
    if kind == 'text':
        with open(path, 'w') as file:
            file.write('not a mat file\n' * 20)
    elif kind == 'hdf5':
        with h5py.File(path, 'w') as mat:
            mat.create_dataset('filelist', data=np.zeros(3))
    else:
        truncate(path, int(kind.split()[2]))
    expected = 'a MATLAB v7.3 \\(HDF5\\) file' if kind == 'hdf5' else 'no MATLAB \\.mat file'
    with pytest.raises(SystemExit, match=rf'^{re.escape(path)} is {expected}; the new-protocol '
                                         r'split files are MATLAB v5 \.mat files holding '
                                         r'filelist, labels, camId, train_idx, query_idx, '
                                         r'gallery_idx: '):
        converter.main([release_root, str(tmp_path / 'out')])


def test_every_truncation_of_a_split_file_is_named_in_one_sentence(converter, release_root):
    """Cut at every length, a split file is either no .mat file to scipy or one that lacks
    the arrays after the cut; never a traceback."""
    path = split_path(release_root)
    with open(path, 'rb') as file:
        whole = file.read()
    for size in range(len(whole)):
        with open(path, 'wb') as file:
            file.write(whole[:size])
        with pytest.raises(SystemExit, match=rf'^{re.escape(path)} (is no MATLAB \.mat file; '
                                             r'|lacks [\w, ]+; a new-protocol split file)'):
            converter.read_split(path)


def test_converter_names_the_keys_a_split_file_lacks(converter, release_root, tmp_path):
    path = split_path(release_root, 'detected')
    savemat(path, dict(labels=np.zeros((3, 1)), query_idx=np.ones((1, 1))))
    with pytest.raises(SystemExit, match=rf'^{re.escape(path)} lacks filelist, camId, '
                                         r'train_idx, gallery_idx; a new-protocol split file '
                                         r'holds filelist, labels, camId, train_idx, '):
        converter.main([release_root, str(tmp_path / 'out'), '--box-types', 'detected'])


@pytest.mark.parametrize('fault', ['no mat file', 'another release'])
def test_a_bad_second_split_file_stops_before_the_first_box_type_is_written(
        converter, release_root, tmp_path, fault):
    """Every split file is read and checked against the release before any image is
    written: a rerun after the fix needs no --overwrite of a box type written before."""
    path = split_path(release_root, 'detected')
    if fault == 'no mat file':
        with open(path, 'w') as file:
            file.write('not a mat file\n')
        message = r'detected\.mat is no MATLAB \.mat file'
    else:
        split = loadmat(path)
        split['filelist'][0, 0] = np.array(['9_999_1_01.png'])
        savemat(path, {key: split[key] for key in SPLIT_KEYS})
        message = r'detected\.mat lists 9_999_1_01\.png, which is not among the detected'
    out = tmp_path / 'out'
    with pytest.raises(SystemExit, match=message):
        converter.main([release_root, str(out)])
    assert not out.exists() or not any(out.iterdir())


@pytest.mark.parametrize('below', [False, True])
def test_converter_refuses_an_out_dir_that_is_a_file(converter, release_root, tmp_path,
                                                     capsys, below):
    """Refused before the release is read, whether OUT_DIR or a folder above it is a file."""
    a_file = tmp_path / 'taken'
    a_file.write_text('')
    out = str(a_file / 'cuhk03-np' if below else a_file)
    with pytest.raises(SystemExit, match=rf'^OUT_DIR {re.escape(out)}: '
                                         rf'{re.escape(str(a_file))} is a file, not a folder'):
        converter.main([release_root, out])
    assert 'Reading' not in capsys.readouterr().out


def tree_files(root):
    """{path relative to root: bytes} of every file under root."""
    return {osp.relpath(osp.join(folder, name), root): open(osp.join(folder, name), 'rb').read()
            for folder, _, names in os.walk(root) for name in names}


@pytest.mark.parametrize('box_types', [[], ['--box-types', 'labeled']])
def test_converter_refuses_an_out_dir_that_holds_a_tree(converter, release_root, tmp_path,
                                                        capsys, box_types):
    """A second run into the same OUT_DIR is refused before reading, and the first tree is
    left as it was (not merged with the new one)."""
    out = str(tmp_path / 'cuhk03-np')
    converter.main([release_root, out, *box_types])
    before = tree_files(out)
    capsys.readouterr()
    target = osp.join(out, 'labeled')
    expected = (f'OUT_DIR {out}: {target} is not empty (a previous conversion?); delete it '
                f'or choose another OUT_DIR, or pass --overwrite to replace it')
    with pytest.raises(SystemExit, match=f'^{re.escape(expected)}$'):
        converter.main([release_root, out, *box_types])
    assert 'Reading' not in capsys.readouterr().out
    assert tree_files(out) == before


def test_converter_overwrite_equals_a_fresh_conversion(converter, release_root, tmp_path,
                                                       capsys):
    """--overwrite replaces each box type's tree: the same files as a fresh conversion, none
    left from the old tree, and no temporary folder beside them."""
    out, fresh = str(tmp_path / 'cuhk03-np'), str(tmp_path / 'fresh')
    converter.main([release_root, fresh])
    converter.main([release_root, out])
    (tmp_path / 'cuhk03-np' / 'labeled' / 'query' / '0009_c1_1.png').write_bytes(b'old')
    converter.main([release_root, out, '--overwrite'])
    assert 'labeled: bounding_box_train 3 images' in capsys.readouterr().out
    assert tree_files(out) == tree_files(fresh)
    assert sorted(os.listdir(out)) == ['detected', 'labeled']


def test_converter_accepts_empty_box_type_folders(converter, release_root, tmp_path):
    out = tmp_path / 'cuhk03-np'
    (out / 'labeled').mkdir(parents=True)
    converter.main([release_root, str(out)])
    assert len(tree_files(str(out / 'labeled'))) == 9


def test_converter_failing_midway_leaves_no_tree(converter, release_root, tmp_path,
                                                 monkeypatch):
    """A write that fails after 4 images (a full disk, an interrupt) leaves neither a
    partial tree that CUHK03 would load nor the temporary folder."""
    written, real_imwrite = [], converter.mmcv.imwrite

    def imwrite(image, path):
        if len(written) == 4:
            raise OSError('No space left on device')
        written.append(path)
        return real_imwrite(image, path)

    monkeypatch.setattr(converter.mmcv, 'imwrite', imwrite)
    out = str(tmp_path / 'cuhk03-np')
    with pytest.raises(OSError, match='No space left on device'):
        converter.main([release_root, out, '--box-types', 'labeled'])
    assert len(written) == 4 and os.listdir(out) == []
    with pytest.raises(FileNotFoundError, match=r'labeled.bounding_box_train not found'):
        CUHK03(data_root=out, box_type='labeled')
