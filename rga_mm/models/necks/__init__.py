from .rga_neck import RGANeck

__all__ = ['RGANeck']
