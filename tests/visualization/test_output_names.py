"""One picture per input image, whatever the images' names."""
import os

from rga_mm.visualization import unique_stems
from rga_mm.visualization.output_names import MAX_STEM_BYTES, bounded_stem


def test_each_input_keeps_its_stem_where_it_is_the_first_to_have_it():
    assert unique_stems(['q/0001.jpg', 'q/0002.png']) == ['0001', '0002']


def test_repeated_stems_get_the_smallest_suffix_no_input_owns():
    paths = ['d1/a.jpg', 'd1/a_2.jpg', 'd2/a.jpg', 'd3/a.png', 'd2/a_2.jpg']
    names = unique_stems(paths)
    assert names == ['a', 'a_2', 'a_3', 'a_4', 'a_2_2']
    assert len(set(names)) == len(paths)


def test_a_stem_too_long_for_a_file_name_is_shortened_and_stays_apart(tmp_path):
    """A 251-byte query name is legal; its picture's name, with ``_2``, ``.png`` and
    ``.partial``, would not be: the stems are cut (at a character boundary, here inside
    two-byte characters) and told apart by a digest of the whole stem."""
    long_a, long_b = 'é' * 120 + 'a' * 11, 'é' * 120 + 'b' * 11  # 251 bytes each
    names = unique_stems([f'q/{long_a}.jpg', f'q/{long_b}.jpg', f'g/{long_a}.png', 'q/0001.jpg'])
    assert names[3] == '0001'
    assert len(set(names)) == 4 and names[2] == f'{names[0]}_2'
    assert names[0].startswith('é' * 95) and names[0] != names[1]
    for name in names:
        assert len(os.fsencode(name)) <= MAX_STEM_BYTES + len('_2')
        (tmp_path / f'{name}.png.partial').write_bytes(b'')  # a name the file system takes
    assert bounded_stem('a' * MAX_STEM_BYTES) == 'a' * MAX_STEM_BYTES
