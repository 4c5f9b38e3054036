"""Setting up the environment rga_mm runs in, as OpenMMLab's ``utils/setup_env.py``."""
from .setup_env import allow_runner_checkpoints, register_all_modules

__all__ = ['allow_runner_checkpoints', 'register_all_modules']
