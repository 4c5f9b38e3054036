"""Install rga_mm: ``pip install .`` (re-ID, CIFAR, the attention zoo, the tools), with the
extras ``seg`` (Cityscapes on mmsegmentation, mmcv with its compiled ops), ``deploy`` (ONNX
export and checking) and ``tests``.

As in OpenMMLab packages, the configs, the tools and the model index travel inside the
package as ``rga_mm/.mim/`` (copied into wheels, linked in a ``setup.py develop`` checkout),
which is where ``mim search rga_mm`` and ``mim train rga_mm CONFIG`` look for them.
"""
import os
import os.path as osp
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py
from setuptools.command.develop import develop

ROOT = osp.dirname(osp.abspath(__file__))
MIM_FILES = ('configs', 'tools', 'model-index.yml')
PAPER_URL = ('https://openaccess.thecvf.com/content_CVPR_2020/html/Zhang_Relation-Aware_'
             'Global_Attention_for_Person_Re-Identification_CVPR_2020_paper.html')


def read_requirements(name: str) -> list[str]:
    """The requirement lines of ``requirements/<name>.txt``, comments dropped."""
    with open(osp.join(ROOT, 'requirements', f'{name}.txt')) as f:
        lines = (line.split('#', 1)[0].strip() for line in f)
        return [line for line in lines if line]


def read_version() -> str:
    namespace: dict = {}
    with open(osp.join(ROOT, 'rga_mm', 'version.py')) as f:
        exec(f.read(), namespace)
    return namespace['__version__']


def place_mim_files(package_dir: str, link: bool) -> None:
    """Put configs/, tools/ and model-index.yml under ``<package_dir>/.mim/``."""
    mim_dir = osp.join(package_dir, '.mim')
    os.makedirs(mim_dir, exist_ok=True)
    for name in MIM_FILES:
        source, target = osp.join(ROOT, name), osp.join(mim_dir, name)
        if osp.islink(target) or osp.isfile(target):
            os.remove(target)
        elif osp.isdir(target):
            shutil.rmtree(target)
        if link:
            os.symlink(osp.relpath(source, mim_dir), target)
        elif osp.isdir(source):
            shutil.copytree(source, target,
                            ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(source, target)


class BuildWithMimFiles(build_py):
    """``build_py`` that also copies the mim files into the built package."""

    def run(self) -> None:
        super().run()
        if not getattr(self, 'editable_mode', False):  # setuptools < 64 has no such mode
            place_mim_files(osp.join(self.build_lib, 'rga_mm'), link=False)


class DevelopWithMimFiles(develop):
    """``develop`` that links the mim files into the checkout's package folder."""

    def run(self) -> None:
        place_mim_files(osp.join(ROOT, 'rga_mm'), link=True)
        super().run()


with open(osp.join(ROOT, 'README.md'), encoding='utf-8') as f:
    long_description = f.read()

setup(
    name='rga_mm',
    version=read_version(),
    description='Relation-Aware Global Attention (Zhang et al., CVPR 2020) for OpenMMLab',
    long_description=long_description,
    long_description_content_type='text/markdown',
    author='The rga_mm authors',
    # no public home page yet: the paper and the reference implementation it reproduces
    url=PAPER_URL,
    project_urls={
        'Paper': PAPER_URL,
        'Reference implementation':
        'https://github.com/microsoft/Relation-Aware-Global-Attention-Networks',
    },
    license='Apache License 2.0',
    keywords='computer vision, attention, person re-identification, OpenMMLab',
    classifiers=[
        'License :: OSI Approved :: Apache Software License',
        'Operating System :: OS Independent',
        'Programming Language :: Python :: 3',
        'Programming Language :: Python :: 3.10',
        'Programming Language :: Python :: 3.11',
        'Programming Language :: Python :: 3.12',
        'Topic :: Scientific/Engineering :: Artificial Intelligence',
    ],
    packages=find_packages(include=['rga_mm', 'rga_mm.*']),
    python_requires='>=3.10',
    install_requires=read_requirements('runtime'),
    extras_require={
        'seg': read_requirements('seg'),
        'deploy': read_requirements('deploy'),
        'tests': read_requirements('tests') + read_requirements('deploy'),
        'all': read_requirements('seg') + read_requirements('tests') + read_requirements('deploy'),
    },
    cmdclass={'build_py': BuildWithMimFiles, 'develop': DevelopWithMimFiles},
    zip_safe=False,
)
