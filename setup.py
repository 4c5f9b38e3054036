"""Install rga_mm. Dependencies are pinned in requirements/ and installed by
tools/misc/ensure_env.sh (two stages: mmcv's ops compile against the installed torch)."""
from setuptools import find_packages, setup

setup(
    name='rga_mm',
    version='0.1.0',
    description='Relation-Aware Global Attention (CVPR 2020) for OpenMMLab',
    packages=find_packages(include=['rga_mm', 'rga_mm.*']),
    python_requires='>=3.10',
)
