"""The list shortening that error messages share (rga_mm.errors.first_listed)."""
from rga_mm.errors import first_listed


def test_first_listed_names_the_first_items_and_counts_the_rest():
    assert first_listed(['a', 'b', 'c', 'd'], 2) == 'a, b and 2 more'
    assert first_listed([3, 17], 2) == '3, 17'
    assert first_listed(['only'], 5) == 'only'
    assert first_listed([], 5) == ''
