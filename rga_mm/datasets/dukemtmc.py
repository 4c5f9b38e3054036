"""DukeMTMC-reID (Ristani et al., ECCVW 2016; Zheng et al., ICCV 2017)."""
import re

from rga_mm.registry import DATASETS
from .market_style import MarketStyleDataset


@DATASETS.register_module()
class DukeMTMCReID(MarketStyleDataset):
    """DukeMTMC-reID: 702 training identities, 8 cameras, Market-1501's folder layout.

    ``data_root`` is the extracted ``DukeMTMC-reID`` folder. File names are
    ``{identity:04d}_c{camera}_f{frame:07d}.jpg``. Expected sizes: train 702 ids /
    16,522 images, query 702 / 2,228, gallery 1,110 / 17,661 (408 distractor ids).
    """

    dataset_name = 'DukeMTMC-reID'
    file_pattern = re.compile(r'(?P<identity>-1|\d{4})_c(?P<camera>\d)_f\d{7}\.jpg')
    example_name = '0001_c2_f0046182.jpg'
    num_cameras = 8
