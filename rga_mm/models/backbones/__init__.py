from .stage_attention import StageAttentionBackbone

__all__ = ['StageAttentionBackbone']
