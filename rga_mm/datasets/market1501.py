"""Market-1501 (Zheng et al., ICCV 2015)."""
import re

from rga_mm.registry import DATASETS
from .market_style import MarketStyleDataset


@DATASETS.register_module()
class Market1501(MarketStyleDataset):
    """Market-1501: 751 training identities; 750 test identities, 6 cameras.

    ``data_root`` is the extracted ``Market-1501-v15.09.15`` folder. File names are
    ``{identity:04d}_c{camera}s{sequence}_{frame:06d}_{box:02d}.jpg``; identity -1 (junk) is
    dropped, identity 0000 (distractors) stays in the gallery. Expected sizes:
    train 751 ids / 12,936 images, query 750 / 3,368, gallery 751 / 15,913 (incl. 0000).
    """

    dataset_name = 'Market-1501'
    file_pattern = re.compile(r'(?P<identity>-1|\d{4})_c(?P<camera>\d)s\d_\d{6}_\d{2}\.jpg')
    example_name = '0002_c1s1_000451_03.jpg'
    num_cameras = 6
