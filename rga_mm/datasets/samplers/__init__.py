from .draw_seeded_sampler import DrawSeededSampler
from .identity_batch_sampler import IdentityBatchSampler

__all__ = ['DrawSeededSampler', 'IdentityBatchSampler']
