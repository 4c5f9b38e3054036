"""One picture per input image, whatever the images' names."""
from rga_mm.visualization import unique_stems


def test_each_input_keeps_its_stem_where_it_is_the_first_to_have_it():
    assert unique_stems(['q/0001.jpg', 'q/0002.png']) == ['0001', '0002']


def test_repeated_stems_get_the_smallest_suffix_no_input_owns():
    paths = ['d1/a.jpg', 'd1/a_2.jpg', 'd2/a.jpg', 'd3/a.png', 'd2/a_2.jpg']
    names = unique_stems(paths)
    assert names == ['a', 'a_2', 'a_3', 'a_4', 'a_2_2']
    assert len(set(names)) == len(paths)
