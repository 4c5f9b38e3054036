"""Random re-ID batches in the form the P×K dataloader yields, for benchmarks and tests."""
import torch
from mmpretrain.structures import DataSample


def fake_reid_batch(num_identities: int, images_per_id: int, height: int,
                    width: int) -> dict:
    """``dict(inputs=[uint8 (3, H, W)] * B, data_samples=[DataSample with gt_label])``,
    B = ``num_identities × images_per_id``, identities 0..P−1 in blocks of K."""
    batch = num_identities * images_per_id
    images = [torch.randint(0, 256, (3, height, width), dtype=torch.uint8)
              for _ in range(batch)]
    samples = [DataSample().set_gt_label(i // images_per_id) for i in range(batch)]
    return dict(inputs=images, data_samples=samples)


def batch_label_refusal(batch: int, images_per_id: int, num_classes: int, head: str) -> str:
    """Why a :func:`fake_reid_batch` of ``batch`` images (``batch // images_per_id``
    identities, labelled 0 … P − 1) does not fit a classifier of ``num_classes`` outputs,
    ``head`` naming whose; '' when it fits (at most ``images_per_id × num_classes``)."""
    most = images_per_id * num_classes
    if batch <= most:
        return ''
    return (f'--batch {batch} draws {batch // images_per_id} identities of {images_per_id} '
            f'images but {head} classifies {num_classes} (num_classes): give --batch {most} '
            f'or less')
