"""``pip install .`` gives a real package: its wheel carries the metadata, the dependencies and
extras, and, as OpenMMLab packages do, the configs, tools and model index under
``rga_mm/.mim/``, so that ``mim search rga_mm`` and ``mim train rga_mm CONFIG`` work.

The wheel is built from a copy of the checkout and installed (without dependencies, which the
test environment already has) into a folder that is put first on the path, so every check
below runs against the installed package, not the checkout.
"""
import email
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SOURCE_FILES = ('setup.py', 'MANIFEST.in', 'README.md', 'LICENSE', 'model-index.yml',
                'requirements', 'rga_mm', 'configs', 'tools', 'docs')
DEMO_CONFIG = 'rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'


def _config_names() -> list[str]:
    folders = ('reid', 'cifar', 'cityscapes', 'demo')
    return sorted(p.stem for folder in folders for p in (ROOT / 'configs' / folder).glob('*.py'))


@pytest.fixture(scope='module')
def wheel(tmp_path_factory) -> Path:
    """The wheel ``pip wheel .`` builds from a copy of the checkout."""
    source = tmp_path_factory.mktemp('source')
    ignore = shutil.ignore_patterns('__pycache__', '*.pyc', '.mim', '*.egg-info')
    for name in SOURCE_FILES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, source / name, ignore=ignore)
        else:
            shutil.copyfile(ROOT / name, source / name)
    dist = tmp_path_factory.mktemp('dist')
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation',
                    '--no-index', '-q', str(source), '-w', str(dist)], check=True, timeout=300)
    [built] = dist.glob('rga_mm-*.whl')
    return built


@pytest.fixture(scope='module')
def installed(wheel, tmp_path_factory) -> dict:
    """Environment variables of a process that imports the installed wheel."""
    site = tmp_path_factory.mktemp('site')
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '--no-index', '-q',
                    '--target', str(site), str(wheel)], check=True, timeout=300)
    return {**os.environ, 'PYTHONPATH': str(site)}


def _run(args: list[str], env: dict, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, *args], env=env, cwd=cwd, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


def test_wheel_metadata_names_dependencies_extras_license_and_urls(wheel):
    with zipfile.ZipFile(wheel) as archive:
        [metadata_name] = [n for n in archive.namelist() if n.endswith('.dist-info/METADATA')]
        metadata = email.message_from_bytes(archive.read(metadata_name))
    requires = metadata.get_all('Requires-Dist')
    assert 'mmcv-lite==2.1.0' in requires
    assert 'mmsegmentation==1.2.2; extra == "seg"' in requires
    assert 'mmcv==2.1.0; extra == "seg"' in requires
    assert 'openmim; extra == "tests"' in requires
    assert not any(r.startswith(('mmcv==', 'mmsegmentation')) and 'extra' not in r
                   for r in requires)  # the core installs no compiled op
    assert set(metadata.get_all('Provides-Extra')) == {'seg', 'deploy', 'tests', 'all'}
    assert 'onnxruntime; extra == "deploy"' in requires
    assert metadata['Requires-Python'] == '>=3.10'
    assert metadata['License'] == 'Apache License 2.0'
    assert any('Relation-Aware-Global-Attention' in url
               for url in metadata.get_all('Project-URL'))
    assert metadata['Home-page'].startswith('https://')


def test_wheel_ships_configs_tools_and_model_index_for_mim(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    mim = 'rga_mm/.mim/'
    assert {f'{mim}model-index.yml', f'{mim}tools/train.py', f'{mim}tools/test.py',
            f'{mim}configs/_base_/default_runtime.py'} <= names
    for folder in ('reid', 'cifar', 'cityscapes', 'demo'):
        assert f'{mim}configs/{folder}/metafile.yml' in names
    shipped = {Path(n).stem for n in names if n.startswith(f'{mim}configs/')
               and n.endswith('.py') and '/_base_/' not in n}
    assert shipped == set(_config_names())


def test_the_installed_package_is_imported_and_found_by_mim_search(installed, tmp_path):
    location = _run(['-c', 'import rga_mm; print(rga_mm.__file__)'], installed, tmp_path)
    assert location.stdout.strip().startswith(installed['PYTHONPATH'])
    search = _run(['-m', 'mim', 'search', 'rga_mm'], installed, tmp_path).stdout
    listed = [line.split(':', 1)[1].strip() for line in search.splitlines()
              if line.startswith('config id:')]
    assert sorted(listed) == _config_names()
    assert 'paper_table             table 6' in search


def test_mim_search_filters_by_the_papers_numbers(installed, tmp_path):
    search = _run(['-m', 'mim', 'search', 'rga_mm', '--condition', 'map>88'],
                  installed, tmp_path).stdout
    listed = {line.split(':', 1)[1].strip() for line in search.splitlines()
              if line.startswith('config id:')}
    # Table 1: RGA-SC on Market-1501, 88.1 mAP, the only row of any table above 88
    assert listed == {'rga-sc_r50-ls1_1xb64-600e_market1501-256x128'}


@pytest.mark.slow
def test_mim_train_runs_the_installed_tool_on_a_shipped_config(installed, tiny_market,
                                                               tmp_path):
    root = str(tiny_market)
    work_dir = tmp_path / 'work'
    _run(['-m', 'mim', 'train', 'rga_mm', DEMO_CONFIG, '--work-dir', str(work_dir),
          '--cfg-options', *(f'{split}_dataloader.{key}' for split in ('train', 'val', 'test')
                             for key in (f'dataset.data_root={root}', 'num_workers=0',
                                         'persistent_workers=False')),
          'train_dataloader.batch_size=8', 'model.head.num_classes=8',
          'train_cfg.max_epochs=1', 'custom_hooks=[]'], installed, tmp_path)
    assert (work_dir / 'epoch_1.pth').is_file()
    assert (work_dir / DEMO_CONFIG).is_file()
