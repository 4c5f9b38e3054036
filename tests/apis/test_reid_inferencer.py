"""``rga_mm.apis.ReIDInferencer`` and ``get_model``: a trained re-ID model put to work.

The inferencer's embeddings must be exactly the model's ``forward(mode='tensor')`` on the
batch the config's test pipeline makes of the same images (as the test dataloader makes
it), whatever form the images come in; flipping must average an image's and its mirror's
embedding; bad input is refused in one sentence naming what is wrong.
"""
import os
import re
import shutil
import threading
import warnings
from pathlib import Path

import mmcv
import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from modelindex.load_model_index import load
from PIL import Image

from rga_mm.apis import (
    CheckpointError,
    ReIDInferencer,
    get_model,
    init_model,
    list_models,
    model_config,
    model_index,
)
from rga_mm.apis.inferencer import ON_UNREADABLE
from rga_mm.datasets.folder_listing import image_files
from rga_mm.datasets.transforms import UnreadableImageError
from rga_mm.errors import ConfigError
from rga_mm.registry import DATASETS
from demo_model import calibrated_demo_checkpoint
from reid_trees import add_links_that_lead_nowhere

ROOT = Path(__file__).parents[2]
DEMO = 'rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32'
CONFIG = ROOT / f'configs/demo/{DEMO}.py'
BATCH = 8


@pytest.fixture(scope='module')
def checkpoint(tiny_market, tmp_path_factory) -> Path:
    """The demo model, initial weights and BN statistics of the tiny training set."""
    return calibrated_demo_checkpoint(tiny_market,
                                      tmp_path_factory.mktemp('checkpoint') / 'demo.pth')


@pytest.fixture(scope='module')
def inferencer(checkpoint) -> ReIDInferencer:
    return ReIDInferencer(CONFIG, str(checkpoint), 'cpu', show_progress=False)


@pytest.fixture(scope='module')
def gallery(tiny_market) -> list:
    """The gallery items of the tiny dataset, loaded by the config's test pipeline."""
    cfg = init_model(CONFIG).cfg
    dataset = DATASETS.build(dict(cfg.test_dataloader.dataset, data_root=str(tiny_market),
                                  split='gallery'))
    return [dataset[i] for i in range(len(dataset))]


def model_embeddings(model, items: list) -> torch.Tensor:
    """What the test loop feeds the model: batches of BATCH collated items, then
    ``forward(mode='tensor')`` on the preprocessed inputs."""
    out = []
    with torch.no_grad():
        for start in range(0, len(items), BATCH):
            data = model.data_preprocessor(pseudo_collate(items[start:start + BATCH]), False)
            out.append(model(data['inputs'], mode='tensor'))
    return torch.cat(out)


def test_embeddings_are_the_models_on_the_same_batches(inferencer, gallery):
    paths = [item['data_samples'].img_path for item in gallery]
    embeddings = inferencer(paths, batch_size=BATCH)
    assert embeddings.shape == (len(paths), 512) and embeddings.device.type == 'cpu'
    assert torch.equal(embeddings, model_embeddings(inferencer.model, gallery))


def test_files_folders_and_arrays_give_the_same_embeddings(inferencer, tiny_market):
    folder = tiny_market / 'query'
    paths = sorted(str(p) for p in folder.glob('*.jpg'))
    from_folder = inferencer(str(folder), batch_size=BATCH)
    assert torch.equal(from_folder, inferencer(paths, batch_size=BATCH))
    arrays = [mmcv.imread(path) for path in paths]  # BGR, as mmcv reads
    assert torch.equal(from_folder, inferencer(arrays, batch_size=BATCH))
    one = inferencer(arrays[3], batch_size=1)
    assert one.shape == (1, 512)
    # a batch of 1, not of 8: the same up to the order of the convolutions' sums
    torch.testing.assert_close(one[0], from_folder[3], rtol=1e-3, atol=1e-3)
    samples = inferencer([folder], return_datasamples=True, batch_size=BATCH)
    assert [s.img_path for s in samples] == paths
    assert [s.sample_idx for s in samples] == list(range(len(paths)))
    assert torch.equal(torch.stack([s.pred_feature for s in samples]), from_folder)


def test_flip_averages_the_image_and_its_mirror(inferencer, tiny_market):
    paths = sorted(str(p) for p in (tiny_market / 'query').glob('*.jpg'))
    plain = inferencer(paths, batch_size=BATCH)
    mirrored = inferencer([mmcv.imflip(mmcv.imread(p)) for p in paths], batch_size=BATCH)
    flipped = inferencer(paths, batch_size=BATCH, flip=True)
    torch.testing.assert_close(flipped, (plain + mirrored) / 2)
    assert not torch.allclose(plain, mirrored, atol=1e-3)  # the mirror is another input


def test_an_unreadable_image_stops_or_is_skipped(inferencer, tiny_market, tmp_path):
    folder = tmp_path / 'images'
    shutil.copytree(tiny_market / 'query', folder)
    paths = sorted(str(p) for p in folder.glob('*.jpg'))
    Path(paths[2]).write_bytes(b'not a jpeg')
    with pytest.raises(UnreadableImageError, match=f'cannot read image {paths[2]}: 10 bytes'):
        inferencer(str(folder), batch_size=BATCH)
    samples = inferencer(str(folder), batch_size=3, return_datasamples=True,
                         on_unreadable='skip')
    assert [s.sample_idx for s in samples] == [0, 1, 3, 4, 5, 6, 7]
    readable = [p for i, p in enumerate(paths) if i != 2]
    assert [s.img_path for s in samples] == readable
    torch.testing.assert_close(torch.stack([s.pred_feature for s in samples]),
                               inferencer(readable, batch_size=3))
    with pytest.raises(ValueError, match="on_unreadable must be one of"):
        inferencer(readable, on_unreadable='ignore')


def test_bad_inputs_are_named_in_one_sentence(inferencer, tmp_path):
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'empty' / 'notes.txt').write_text('no images here')
    with pytest.raises(ValueError, match=r'folder .*empty holds no image file \(\.jpg'):
        inferencer(str(tmp_path / 'empty'))
    with pytest.raises(ValueError, match=r'input 0 is an array of shape \(64, 32, 2\); give '
                                         r'\(H, W, 3\) BGR images as mmcv.imread returns'):
        inferencer(np.zeros((64, 32, 2), np.uint8))
    with pytest.raises(ValueError, match="unknown argument {'flips'}"):
        inferencer([], flips=True)
    missing = str(tmp_path / 'missing.jpg')  # show=True is refused before any image is read
    with pytest.raises(NotImplementedError, match=r'ReIDInferencer draws nothing \(show=True\)'
                                                  r': an embedding has no picture'):
        inferencer(missing, show=True)
    image = np.full((64, 32, 3), 128, dtype=np.uint8)
    torch.testing.assert_close(inferencer(image, show=False), inferencer(image))


def test_arrays_the_pipeline_cannot_take_are_refused_naming_their_position(inferencer):
    image = np.full((64, 32, 3), 128, dtype=np.uint8)
    for dtype in (np.int64, bool):
        with pytest.raises(ValueError, match=rf'input 1 is an array of dtype '
                                             rf'{np.dtype(dtype).name}, which the pipeline '
                                             rf'cannot resize; convert it to one of uint8'):
            inferencer([image, image.astype(dtype)])
    with pytest.raises(ValueError, match=r'input 1 is an empty array of shape \(0, 0, 3\)'):
        inferencer([image, np.zeros((0, 0, 3), np.uint8)])
    for bad in (np.nan, np.inf):
        broken = image.astype(np.float32)
        broken[3, 4, 1] = bad
        with pytest.raises(ValueError, match='input 0 holds NaN or infinite values'):
            inferencer([broken, image])


def test_errors_and_samples_name_the_position_in_the_list_given(inferencer, tiny_market,
                                                                  tmp_path):
    """A folder is one input, however many images it holds."""
    folder = tiny_market / 'query'
    paths = sorted(str(p) for p in folder.glob('*.jpg'))
    assert len(paths) > 1
    image = mmcv.imread(paths[0])
    with pytest.raises(ValueError, match=r'^input 1 is an array of dtype bool'):
        inferencer([str(folder), image.astype(bool)])
    with pytest.raises(FileNotFoundError, match=r"^input 1 is an empty path \(''\)"):
        inferencer([str(folder), ''])
    missing = tmp_path / 'missing.jpg'
    with pytest.raises(FileNotFoundError, match=rf'^input 2 is {re.escape(str(missing))}, '
                                                r'which does not exist'):
        inferencer([str(folder), image, missing])
    url = 'https://example.com/person.jpg'
    with pytest.raises(FileNotFoundError, match=rf'^input 1 is {re.escape(url)}, a URL: '
                                                r'ReIDInferencer reads local image files'):
        inferencer([str(folder), url])
    samples = inferencer([str(folder), image], return_datasamples=True, batch_size=BATCH)
    assert [s.input_idx for s in samples] == [0] * len(paths) + [1]
    assert [s.sample_idx for s in samples] == list(range(len(paths) + 1))


def test_a_file_with_a_trailing_slash_is_named_a_file(inferencer, tiny_market):
    path = str(sorted((tiny_market / 'query').glob('*.jpg'))[0])
    with pytest.raises(FileNotFoundError, match=re.escape(
            f"input 0 is {path}/, a file, not a folder: drop the trailing '/'")):
        inferencer(f'{path}/')


def _open_and_close_for_writing(fifo: Path) -> None:
    try:
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    except OSError:  # ENXIO: no process has it open for reading
        pass


def test_a_fifo_is_refused_instead_of_waited_on(inferencer, tmp_path):
    """Opening a FIFO for reading waits for a writer: before this check the inferencer
    hung for good on ``mkfifo f.jpg``."""
    fifo = tmp_path / 'f.jpg'
    os.mkfifo(fifo)
    # were the FIFO opened, a writer's open and close after 10 s would end the wait (an
    # empty read) and this test would fail instead of hanging; a refusal leaves no reader
    unblock = threading.Timer(10, _open_and_close_for_writing, [fifo])
    unblock.daemon = True
    unblock.start()
    for on_unreadable in ('stop', 'skip'):  # skip: a missing file is skipped, not refused
        with pytest.raises(ValueError, match=re.escape(
                f'input 0 is {fifo}, which exists but is neither a regular file nor a folder '
                f'(a device, a FIFO or a socket')):
            inferencer(str(fifo), on_unreadable=on_unreadable, return_datasamples=True)


def test_gray_and_bgra_arrays_give_the_embeddings_of_their_files(inferencer, tmp_path):
    """As cv2.imread (IMREAD_COLOR) reads such files: gray in all three channels, alpha
    dropped; a channels-first array is told how to convert."""
    rng = np.random.default_rng(0)
    gray = rng.integers(0, 256, (64, 32), dtype=np.uint8)
    bgra = rng.integers(0, 256, (64, 32, 4), dtype=np.uint8)
    files = [str(tmp_path / 'gray.png'), str(tmp_path / 'bgra.png')]
    for image, path in zip((gray, bgra), files):
        mmcv.imwrite(image, path)
    expected = inferencer(files, batch_size=2)
    assert torch.equal(inferencer([gray, bgra], batch_size=2), expected)
    assert torch.equal(inferencer([gray[..., None], bgra], batch_size=2), expected)
    chw = mmcv.imread(files[1]).transpose(2, 0, 1)
    with pytest.raises(ValueError, match=re.escape(
            'input 1 is an array of shape (3, 64, 32), channels first; give (H, W, C) images '
            'as mmcv.imread returns them: array.transpose(1, 2, 0)')):
        inferencer([gray, chw])


def test_other_resizable_dtypes_give_the_uint8_embedding(inferencer):
    image = np.random.default_rng(0).integers(0, 256, (64, 32, 3), dtype=np.uint8)
    expected = inferencer(image, batch_size=1)
    for dtype in (np.uint16, np.int16, np.float16, np.float32, np.float64):
        torch.testing.assert_close(inferencer(image.astype(dtype), batch_size=1), expected)


def test_a_float_image_scaled_to_0_1_warns_but_is_embedded(inferencer):
    image = np.random.default_rng(0).random((64, 32, 3), dtype=np.float32)
    with pytest.warns(UserWarning, match='input 0 is a float array with all values in '
                                         r'\[0, 1\], but the pipeline expects BGR values 0-255'):
        assert inferencer(image).shape == (1, 512)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        inferencer([np.zeros((64, 32, 3), np.float32), image * 255])


def test_a_float_image_well_outside_0_255_is_refused(inferencer):
    """A normalised image (mean/std applied already) or a 16-bit one would be embedded as
    garbage; a resampling's small overshoot is taken."""
    image = np.random.default_rng(0).uniform(0, 255, (64, 32, 3))
    normalised = (image - 120.0) / 60.0
    with pytest.raises(ValueError, match=re.escape(
            f'input 1 is a float array with values down to {normalised.min():.3g}, as a '
            f'normalised image has; give BGR values 0-255 as mmcv.imread gives (the model '
            f'normalises them itself)')):
        inferencer([image, normalised])
    with pytest.raises(ValueError, match=re.escape(
            f'input 0 is a float array with values up to {image.max() * 257:.6g}; give BGR '
            f'values 0-255 as mmcv.imread gives (a 16-bit image: divide it by 257)')):
        inferencer(image * 257)
    scaled = image / 127.5 - 1  # [-1, 1]: normalised too, though nothing is below -1
    with pytest.raises(ValueError, match='input 0 is a float array with values down to -1'):
        inferencer(scaled)
    overshoot = image.copy()
    overshoot[0, 0] = (-0.4, 255.6, 0)
    assert inferencer(overshoot).shape == (1, 512)


@pytest.mark.parametrize('batch_size', [2.5, True, '2', 0])
def test_batch_size_must_be_an_int_of_at_least_1(inferencer, batch_size):
    with pytest.raises(ValueError, match=rf'batch_size must be an int of at least 1, got '
                                         rf'{re.escape(repr(batch_size))}'):
        inferencer(np.zeros((64, 32, 3), np.uint8), batch_size=batch_size)


def test_a_loop_of_links_is_left_out_like_a_dangling_link(inferencer, tiny_market, tmp_path):
    folder = tmp_path / 'images'
    shutil.copytree(tiny_market / 'query', folder)
    add_links_that_lead_nowhere(folder)
    paths = sorted(str(p) for p in (tiny_market / 'query').glob('*.jpg'))
    assert [Path(p).name for p in image_files(folder)] == [Path(p).name for p in paths]
    for on_unreadable in ON_UNREADABLE:
        samples = inferencer(str(folder), return_datasamples=True, on_unreadable=on_unreadable)
        assert [Path(s.img_path).name for s in samples] == [Path(p).name for p in paths]
        torch.testing.assert_close(torch.stack([s.pred_feature for s in samples]),
                                   inferencer(paths))


def test_a_checkpoint_that_does_not_fit_is_refused(checkpoint):
    with pytest.raises(CheckpointError) as error:
        ReIDInferencer(CONFIG, str(checkpoint), 'cpu',
                       cfg_options={'model.head.num_classes': 9})
    message = str(error.value)
    assert message.startswith(f'{checkpoint}: checkpoint tensor ')
    assert "'head.classifier.weight' has shape (60, 512)" in message and '(9, 512)' in message


def test_get_model_names_the_class_count_of_the_checkpoints_head(checkpoint):
    with pytest.raises(CheckpointError, match=re.escape(
            "expects (8, 512); the checkpoint was trained for another number of classes: pass "
            "--cfg-options model.head.num_classes=60 to a command-line tool, or cfg_options="
            "{'model.head.num_classes': 60} to rga_mm.apis.init_model, get_model or "
            "ReIDInferencer, to build the model it fits; if it is meant")):
        get_model(DEMO, str(checkpoint), cfg_options={'model.head.num_classes': 8})


def test_a_config_without_a_test_pipeline_is_refused_naming_the_fix(checkpoint, tmp_path):
    """A config written for training and validation only: the inferencer has no pipeline to
    turn files into inputs."""
    config = tmp_path / 'train_and_val_only.py'
    config.write_text(f"_base_ = ['{CONFIG}']\ntest_dataloader = None\n")
    with pytest.raises(ConfigError, match=(
            f'^{re.escape(str(config))} has no test_dataloader.dataset.pipeline, .* add a '
            f'test_dataloader')):
        ReIDInferencer(str(config), str(checkpoint), 'cpu')


def test_get_model_builds_an_index_entry_with_its_weights(checkpoint):
    model = get_model(DEMO, str(checkpoint))
    saved = torch.load(checkpoint, weights_only=True)['state_dict']
    assert all(torch.equal(value, saved[key]) for key, value in model.state_dict().items())
    assert not model.training and model.cfg.filename.endswith(f'{DEMO}.py')
    by_name = ReIDInferencer(DEMO, str(checkpoint), 'cpu', show_progress=False)
    assert by_name.cfg.filename == model.cfg.filename


def test_every_index_entry_is_listed_and_unknown_names_get_the_closest():
    index = load(str(ROOT / 'model-index.yml'))
    assert list_models() == sorted(model.name for model in index.models)
    assert list_models('rga-sc_r50*market1501*') == [
        'rga-sc_r50-ls1_1xb64-600e_market1501-256x128']
    assert model_config(DEMO).resolve() == CONFIG.resolve()
    with pytest.raises(ValueError) as error:
        get_model('rga-sc_r50_market1501')
    message = str(error.value)
    assert "'rga-sc_r50_market1501' is not a model of the index" in message
    assert 'the closest are rga-sc_r50-ls1_1xb64-600e_market1501-256x128' in message
    with pytest.raises(TypeError, match=r'the model name must be a string, got NoneType: '
                                        r'rga_mm\.apis\.list_models\(\) lists the names'):
        get_model(None)


def test_an_installed_package_reads_the_index_in_its_mim_folder(tmp_path, monkeypatch):
    """``pip install`` copies model-index.yml and configs/ into ``rga_mm/.mim/``."""
    mim = tmp_path / '.mim'
    mim.mkdir()
    shutil.copy(ROOT / 'model-index.yml', mim)
    shutil.copytree(ROOT / 'configs', mim / 'configs')
    monkeypatch.setattr(model_index, 'INDEX_LOCATIONS', (mim, tmp_path / 'no-checkout'))
    assert model_index.model_index_path() == mim / 'model-index.yml'
    assert model_config(DEMO) == mim / f'configs/demo/{DEMO}.py'
    monkeypatch.setattr(model_index, 'INDEX_LOCATIONS', (tmp_path / 'a', tmp_path / 'b'))
    with pytest.raises(FileNotFoundError, match='rga_mm has no model index'):
        list_models()


def test_cfg_options_reach_the_pipeline_the_model_and_cfg(checkpoint, tiny_market):
    """One merged config: the pipeline, the model and ``self.cfg`` follow the overrides."""
    options = {'test_dataloader.dataset.pipeline.1.scale': (16, 32),
               'test_evaluator.distance': 'euclidean',
               'model.data_preprocessor.mean': [0, 0, 0]}
    inferencer = ReIDInferencer(CONFIG, str(checkpoint), 'cpu', cfg_options=options,
                                show_progress=False)
    assert inferencer.cfg.test_evaluator.distance == 'euclidean'
    assert inferencer.cfg.test_dataloader.dataset.pipeline[1].scale == (16, 32)
    image = np.full((128, 64, 3), 128, np.uint8)
    assert inferencer.pipeline((0, image))['inputs'].shape == (3, 32, 16)
    assert inferencer.model.data_preprocessor.mean.flatten().tolist() == [0, 0, 0]
    # as in tools/test.py, the RGA modules built for 64×32 images refuse another size
    with pytest.raises(ValueError, match=r'RGA was built for a 16×8 map but received 8×4'):
        inferencer(image)
    with pytest.raises(ValueError, match=r"^cfg_options\['input_size'\]: input_size is a "
                                         r'variable of the config \S+64x32\.py'):
        ReIDInferencer(CONFIG, str(checkpoint), 'cpu', cfg_options={'input_size': (32, 16)})


def test_paths_that_do_not_exist_are_named_before_anything_is_embedded(
        inferencer, tiny_market, tmp_path, monkeypatch):
    paths = sorted(str(p) for p in (tiny_market / 'query').glob('*.jpg'))
    forwarded = []
    forward = inferencer.forward
    monkeypatch.setattr(inferencer, 'forward',
                        lambda data, **kwargs: forwarded.append(1) or forward(data, **kwargs))
    with pytest.raises(FileNotFoundError, match=r"^input 0 is an empty path \(''\); give an "
                                                r"image file, a folder of images or an "):
        inferencer('')
    missing = tmp_path / 'missing.jpg'
    with pytest.raises(FileNotFoundError) as error:
        inferencer([*paths, missing], batch_size=2)
    assert str(error.value) == (f'input {len(paths)} is {missing}, which does not exist; '
                                f'give an existing image file or folder')
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=rf'^input 0 is missing\.jpg, which does not '
                                                rf'exist \(relative to {tmp_path}\); give'):
        inferencer('missing.jpg')
    assert forwarded == []
    # skipped with a warning where unreadable files are skipped
    samples = inferencer([paths[0], str(missing)], return_datasamples=True,
                         on_unreadable='skip')
    assert [s.input_idx for s in samples] == [0]
    torch.testing.assert_close(samples[0].pred_feature[None], inferencer(paths[0]))


def test_integer_arrays_outside_0_255_are_refused_as_mmcv_reads_16_bit_files(
        inferencer, tmp_path):
    image = np.random.default_rng(0).integers(0, 65536, (64, 32, 3), dtype=np.uint16)
    with pytest.raises(ValueError, match=r'input 1 is a uint16 array with values up to \d+, '
                                         r'but the pipeline expects BGR values 0-255 as '
                                         r'mmcv.imread gives \(it reads a 16-bit image file '
                                         r'as 8 bits, value >> 8\); convert it the same way, '
                                         r'\(array >> 8\)\.astype\(np\.uint8\)'):
        inferencer([np.zeros((64, 32, 3), np.uint8), image])
    # the conversion the message gives is what reading the 16-bit file gives
    mmcv.imwrite(image, str(tmp_path / 'deep.png'))
    torch.testing.assert_close(inferencer(str(tmp_path / 'deep.png')),
                               inferencer((image >> 8).astype(np.uint8)))
    with pytest.raises(ValueError, match=r'input 0 is an int16 array with values down to -3, '
                                         r'but the pipeline expects BGR values 0-255'):
        inferencer(np.full((64, 32, 3), -3, np.int16))


def test_embed_batches_yields_the_images_before_an_unreadable_one(inferencer, tiny_market,
                                                                  tmp_path):
    folder = tmp_path / 'images'
    shutil.copytree(tiny_market / 'query', folder)
    paths = sorted(str(p) for p in folder.glob('*.jpg'))
    Path(paths[5]).write_bytes(b'not a jpeg')
    batches = []
    with pytest.raises(UnreadableImageError, match=f'cannot read image {paths[5]}'):
        for samples, skipped in inferencer.embed_batches(str(folder), batch_size=3):
            batches.append([sample.img_path for sample in samples])
            assert skipped == []
    assert batches == [paths[:3], paths[3:5]]
    whole = inferencer(paths[:5], batch_size=3)
    batched = [sample.pred_feature for samples, _ in inferencer.embed_batches(paths[:5], 3)
               for sample in samples]
    assert torch.equal(torch.stack(batched), whole)


@pytest.mark.parametrize('flip', ['false', 'true', 0, 1])
def test_flip_must_be_a_bool_or_none(inferencer, flip):
    """A string such as 'false' is refused rather than read as true (it would flip), before
    any image is embedded."""
    message = (rf"^flip must be True, False or None \(the model's test_cfg\.flip\), got "
               rf'{re.escape(repr(flip))}$')
    with pytest.raises(ValueError, match=message):
        inferencer(np.zeros((64, 32, 3), np.uint8), flip=flip)
    with pytest.raises(ValueError, match=message):
        inferencer.uses_flip(flip)
    assert inferencer.uses_flip(np.bool_(True)) is True  # numpy's bool is a bool


def test_images_in_subfolders_are_not_read_but_named(inferencer, tiny_market, tmp_path):
    folder = tmp_path / 'images'
    shutil.copytree(tiny_market / 'query', folder)
    paths = sorted(str(p) for p in folder.glob('*.jpg'))
    for name in ('cam2', 'cam1', '.hidden'):
        (folder / name).mkdir()
        shutil.copy(paths[0], folder / name / 'deeper.jpg')
    (folder / 'notes').mkdir()  # no image in it: not counted
    (folder / 'notes' / 'readme.txt').write_text('')
    with pytest.warns(UserWarning) as record:
        embeddings = inferencer(str(folder), batch_size=BATCH)
    assert [str(warning.message) for warning in record] == [
        f'{folder} has 2 subfolders of images that are not read (the first: {folder / "cam1"}): '
        f'only the images directly in a folder are read; move them up, or give such a '
        f'subfolder as a folder of its own']
    assert torch.equal(embeddings, inferencer(paths, batch_size=BATCH))
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        inferencer(str(tiny_market / 'query'), batch_size=BATCH)


def test_skipping_with_a_tensor_result_is_refused_before_any_image_is_embedded(
        inferencer, tmp_path, monkeypatch):
    """A tensor without the rows of the images skipped no longer lines up with the inputs
    (zip(paths, rows) would pair the wrong rows): skipping returns data samples, each naming
    its input; embed_batches skips as before."""
    rng = np.random.default_rng(0)
    paths = [str(tmp_path / name) for name in ('bad.jpg', 'ok.png', 'other.png')]
    Path(paths[0]).write_bytes(b'not a jpeg')
    for path in paths[1:]:
        mmcv.imwrite(rng.integers(0, 256, (64, 32, 3), dtype=np.uint8), path)
    forwarded = []
    forward = inferencer.forward
    monkeypatch.setattr(inferencer, 'forward',
                        lambda data, **kwargs: forwarded.append(1) or forward(data, **kwargs))
    with pytest.raises(ValueError) as error:
        inferencer(paths, on_unreadable='skip')
    assert str(error.value) == (
        "on_unreadable='skip' leaves the rows of unreadable images out of the (N, D) tensor, "
        "so its rows would no longer line up with the inputs: pass return_datasamples=True "
        "(each data sample carries its input_idx and, for files, its img_path) or stop on "
        "unreadable images (on_unreadable='stop', the default)")
    assert forwarded == []
    samples = inferencer(paths, return_datasamples=True, on_unreadable='skip')
    assert [s.input_idx for s in samples] == [1, 2]
    assert torch.equal(torch.stack([s.pred_feature for s in samples]), inferencer(paths[1:]))
    batches = list(inferencer.embed_batches(paths, batch_size=2, on_unreadable='skip'))
    assert [[s.input_idx for s in samples] for samples, _ in batches] == [[1, 2]]
    assert [[error.path for error in skipped] for _, skipped in batches] == [[paths[0]]]


def test_rgb_arrays_with_channel_order_rgb_give_the_embeddings_of_their_files(
        inferencer, tmp_path):
    """As torchreid and fast-reid hold images (PIL → numpy, RGB and RGBA); files are read
    by the pipeline whatever the channel order, and arrays are BGR by default."""
    rng = np.random.default_rng(0)
    files = [str(tmp_path / 'person.png'), str(tmp_path / 'person_alpha.png')]
    mmcv.imwrite(rng.integers(0, 256, (64, 32, 3), dtype=np.uint8), files[0])
    mmcv.imwrite(rng.integers(0, 256, (64, 32, 4), dtype=np.uint8), files[1])
    pil_arrays = [np.asarray(Image.open(path)) for path in files]
    assert [array.shape[2] for array in pil_arrays] == [3, 4]
    expected = inferencer([mmcv.imread(path) for path in files], batch_size=2)
    assert torch.equal(inferencer(files, batch_size=2), expected)
    assert torch.equal(inferencer(files, batch_size=2, channel_order='rgb'), expected)
    assert torch.equal(inferencer(pil_arrays, batch_size=2, channel_order='rgb'), expected)
    assert not torch.allclose(inferencer(pil_arrays, batch_size=2), expected, atol=1e-3)
    with pytest.raises(ValueError, match=re.escape(
            "channel_order must be 'bgr' (arrays as mmcv.imread or cv2.imread return them) "
            "or 'rgb' (arrays from PIL), got 'RGB'")):
        inferencer(pil_arrays, channel_order='RGB')


def test_the_progress_bar_is_drawn_only_over_more_than_one_image(checkpoint, tiny_market,
                                                                  tmp_path, capsys):
    """A call per image (a loop over crops) draws no bar; show_progress=False draws none;
    the bar is drawn on stderr, so that stdout holds a program's own output alone."""
    paths = sorted(str(p) for p in (tiny_market / 'query').glob('*.jpg'))[:2]
    (tmp_path / 'one').mkdir()
    shutil.copy(paths[0], tmp_path / 'one')
    shown = ReIDInferencer(CONFIG, str(checkpoint), 'cpu')
    capsys.readouterr()
    for one in (paths[0], [paths[0]], mmcv.imread(paths[0]), str(tmp_path / 'one')):
        shown(one)
        assert capsys.readouterr() == ('', '')
    shown(paths)
    printed = capsys.readouterr()
    assert printed.out == '' and '] 2/2, ' in printed.err and printed.err.endswith('\n')
    quiet = ReIDInferencer(CONFIG, str(checkpoint), 'cpu', show_progress=False)
    quiet(paths)
    assert capsys.readouterr() == ('', '')
