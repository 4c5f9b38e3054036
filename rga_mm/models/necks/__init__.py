from .rga_neck import RGANeck, check_heads_fit_neck

__all__ = ['RGANeck', 'check_heads_fit_neck']
