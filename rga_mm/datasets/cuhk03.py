"""CUHK03 (Li et al., CVPR 2014) under the new protocol (Zhong et al., CVPR 2017)."""
import os.path as osp
import re
from typing import Any

from rga_mm.registry import DATASETS
from .market_style import MarketStyleDataset
from .reid_dataset import check_choice

BOX_TYPES = ('labeled', 'detected')
RELEASE_FILE = osp.join('cuhk03_release', 'cuhk-03.mat')


@DATASETS.register_module()
class CUHK03(MarketStyleDataset):
    """CUHK03-NP: 767 training and 700 test identities, 2 cameras (views), new protocol.

    ``data_root`` is the widely shared ``cuhk03-np`` folder, or the output of
    ``tools/dataset_converters/cuhk03.py`` (which builds the same layout from the original
    ``cuhk-03.mat`` and the new-protocol split files). Images are
    ``{data_root}/{labeled,detected}/{bounding_box_train,query,bounding_box_test}/``
    ``{identity:04d}_c{camera}_{index}.png``. Expected sizes, labeled (detected):
    train 767 ids / 7,368 (7,365) images, query 700 / 1,400, gallery 700 / 5,328 (5,332).

    Args:
        box_type: ``'labeled'`` (hand-drawn boxes) or ``'detected'`` (DPM boxes).
    """

    dataset_name = 'CUHK03'
    layout = ('{labeled,detected}/{bounding_box_train,query,bounding_box_test}/ under '
              'data_root, with files like 0001_c1_1.png')
    file_pattern = re.compile(r'(?P<identity>\d{4})_c(?P<camera>[12])_\d+\.png')
    example_name = '0001_c1_1.png'
    suffix = '.png'
    num_cameras = 2

    def __init__(self, data_root: str, box_type: str = 'labeled', **kwargs: Any) -> None:
        check_choice(self.dataset_name, 'box_type', box_type, BOX_TYPES)
        self.box_type = box_type
        super().__init__(data_root=data_root, **kwargs)

    @property
    def image_root(self) -> str:
        return osp.join(self.data_root, self.box_type)

    @classmethod
    def holds_layout(cls, root: str) -> bool:
        return any(cls.names_match(osp.join(root, box)) for box in BOX_TYPES)

    def layout_hint(self) -> str:
        if osp.isfile(osp.join(self.data_root, RELEASE_FILE)):
            return (f'; {self.data_root} holds the original CUHK03 release, convert it '
                    f'first: python tools/dataset_converters/cuhk03.py {self.data_root} '
                    f'OUT_DIR')
        others = [box for box in BOX_TYPES
                  if box != self.box_type and self.names_match(osp.join(self.data_root, box))]
        if others:
            return (f'; {self.data_root} holds the {others[0]} boxes alone: set '
                    f'box_type={others[0]!r}')
        return super().layout_hint()
