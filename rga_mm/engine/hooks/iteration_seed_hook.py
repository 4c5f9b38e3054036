"""The model's random draws in a training iteration from (seed, iteration) alone.

A model that draws at random while it trains (the dropout of mmseg's PSP, FCN and ASPP
heads) draws from torch's global generators, which mmengine seeds once, when the Runner is
built, and which a checkpoint does not hold: a resumed run starts them from the seed again
and from then on drops other units than the uninterrupted run would (the same
distribution, other bits), so its weights differ. Saving the generators in the checkpoint
would not make the two runs agree either: between the checkpoint and the next iteration the
uninterrupted run validates, and building the validation loader draws from the same
generator. Neither mmengine nor mmseg reseeds per iteration, hence this hook.

:class:`IterationSeedHook` seeds torch's CPU generator and every CUDA device's from a hash of
(seed, iteration) before each training iteration, so that iteration ``i`` draws the same
in every run that reaches it. The data pipeline's draws are left as they are: mmseg's
transforms draw from numpy's generator, in the data-loader workers or, without workers,
in the main process, and an iteration-based run that resumes replays the batches it has
already drawn (mmengine's ``IterBasedTrainLoop``). The Cityscapes configs list it::

    custom_hooks = [..., dict(type='rga_mm.IterationSeedHook')]
"""
import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner

from rga_mm.registry import HOOKS


def iteration_seed(seed: int, iteration: int) -> int:
    """A 64-bit seed for ``iteration`` of a run seeded with ``seed`` (numpy's
    ``SeedSequence`` of the pair, so that neighbouring pairs give unrelated streams)."""
    low, high = np.random.SeedSequence([seed, iteration]).generate_state(2, np.uint32)
    return int(high) << 32 | int(low)


@HOOKS.register_module()
class IterationSeedHook(Hook):
    """Before each training iteration, seed torch's generators (CPU and every CUDA device)
    from (``runner.seed``, ``runner.iter``): the seed mmengine set, or drew where the
    config sets none (a resumed run takes its checkpoint's), which differs between ranks
    with ``randomness.diff_rank_seed=True``."""

    priority = 'VERY_HIGH'

    def before_train_iter(self, runner: Runner, batch_idx: int,
                          data_batch: dict | tuple | list | None = None) -> None:
        torch.manual_seed(iteration_seed(runner.seed, runner.iter))
