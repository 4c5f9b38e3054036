"""The plain-module examples of the docs run as written: every Python block of README.md and
docs/*.md that imports an attention module from rga_mm, executed on its own, leaves ``y``
with the shape of its (2, 256, 64, 32) input."""
import pytest

from doc_pages import FENCED_CODE, PAGES

MODULE_IMPORTS = ('from rga_mm import RGA', 'from rga_mm.models.attention import')
EXAMPLES = [(page.name, block) for page in PAGES
            for fence, block in FENCED_CODE.findall(page.read_text())
            if any(line in block for line in MODULE_IMPORTS)]


def test_the_examples_are_found():
    assert sorted(name for name, _ in EXAMPLES) == ['README.md', 'attention_zoo.md',
                                                    'attention_zoo.md']


@pytest.mark.parametrize('page, block', EXAMPLES)
def test_a_plain_module_example_runs_as_written(page, block):
    namespace = {}
    exec(compile(block, page, 'exec'), namespace)
    assert tuple(namespace['y'].shape) == (2, 256, 64, 32)
