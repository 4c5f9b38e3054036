"""A synthetic person re-ID dataset in Market-1501's exact layout, drawn with OpenCV.

Used by the demo and by tests, which need a dataset that a small RGA model learns in minutes
on a CPU, without a download. :func:`generate_synthetic_market` writes::

    {root}/Market-1501-v15.09.15/
        bounding_box_train/0002_c1s1_000451_03.jpg   id, camera, sequence, frame, detector box
        query/0001_c2s3_001051_00.jpg                query boxes are box 00, as in Market
        bounding_box_test/0001_c4s1_017326_02.jpg    the other images of the test identities,
                         0000_c5s2_030201_01.jpg     distractors (badly framed strangers) and
                         -1_c3s2_000123_01.jpg       junk (background, body fragments)
        synthetic_manifest.json                      the parameters; marks the folder complete

so ``Market1501(data_root=folder, split=...)`` reads it like the real dataset.

Identity lives in the clothing (:class:`Appearance`: shirt colour and pattern, trousers or
shorts, shoes, hair, an optional shoulder bag or backpack, build). The nuisances are
Market's: each camera has its own lighting (brightness, colour cast, contrast), background
family and blur (:class:`Camera`); each image has its own pose (walking phase, arm swing,
facing left or right, which moves a shoulder bag to the other side), scale, position, blur
and sensor noise (:class:`Pose`). Colours come from small palettes, so identities share
colours and differ in combinations: a colour histogram matches far above chance but not
always (``tests/synthetic/test_synthetic.py`` checks both).

Everything follows from ``seed``: the same parameters give byte-identical files.

One module per job: :mod:`.world` samples identities, cameras and poses, :mod:`.figure`
draws a person, :mod:`.render` makes one camera image, :mod:`.plan` lays out the identities,
cameras, splits and file names, :mod:`.write` writes the folder and its manifest.
"""
from .render import render_person
from .world import Appearance, Camera, Pose, sample_appearance, sample_camera, sample_pose
from .write import DATASET_FOLDER, MANIFEST_NAME, describe, generate_synthetic_market

__all__ = [
    'Appearance', 'Camera', 'DATASET_FOLDER', 'MANIFEST_NAME', 'Pose', 'describe',
    'generate_synthetic_market', 'render_person', 'sample_appearance', 'sample_camera',
    'sample_pose'
]
