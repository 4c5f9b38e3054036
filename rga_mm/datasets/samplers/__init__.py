from .identity_batch_sampler import IdentityBatchSampler

__all__ = ['IdentityBatchSampler']
