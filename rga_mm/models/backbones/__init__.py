from .cifar_densenet import CifarDenseNet
from .cifar_resnet import CifarResNet
from .stage_attention import StageAttentionBackbone

__all__ = ['CifarDenseNet', 'CifarResNet', 'StageAttentionBackbone']
