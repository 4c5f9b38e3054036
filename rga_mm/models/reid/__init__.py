from .bnneck_head import BNNeckHead
from .reid_model import ReIDModel
from .triplet_loss import BatchHardTripletLoss

__all__ = ['BNNeckHead', 'BatchHardTripletLoss', 'ReIDModel']
