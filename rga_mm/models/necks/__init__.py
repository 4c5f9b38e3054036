from .head_fit import check_heads_fit_neck
from .rga_neck import RGANeck

__all__ = ['RGANeck', 'check_heads_fit_neck']
