"""The command lines of the docs run as written: every ``tools/*.py`` a page shows exists, and
every ``--option`` given to it on the same command line is one of the tool's own options
(as its ``--help`` lists them), so a command copied from the docs is not refused; every
config file a page names exists.

Commands are read from the code blocks (backslash-continued lines joined) and code spans of
README.md, docs/*.md and the configs' READMEs; only the words after the tool's path count
(options before it belong to ``python``, ``torchrun`` and the like).
"""
import contextlib
import io
import re
import sys
from pathlib import Path
from unittest import mock

import pytest

from rga_mm.testing import load_script
from doc_pages import FENCED_CODE, INLINE_CODE, PAGES, ROOT

# a tool's path and the words after it, up to the line's end or a shell pipe or list operator
TOOL = re.compile(r'(?<![\w./-])(tools/[\w/]+\.py)((?:[^\S\n]+(?![|;&])\S+)*)')
OPTION = re.compile(r'(?<![\w-])--[a-z][\w-]*')
CONFIG_FILE = re.compile(r'(?<![\w./-])(configs/[\w/.-]+\.(?:py|yml|md))')
PLACEHOLDER = re.compile(r'[A-Z_]+')  # configs/cifar/CONFIG.py stands for any config
# tools of other projects the pages name (as "mmseg's tools/..."), not shipped here
OTHER_PROJECTS = {'tools/dataset_converters/cityscapes.py': 'mmsegmentation'}


def command_lines(text: str) -> list[str]:
    """The code of a page, one command per line: code blocks with their backslash
    continuations joined, then every code span outside them (wrapped lines joined)."""
    lines = []
    for _, block in FENCED_CODE.findall(text):
        lines += block.replace('\\\n', ' ').splitlines()
    lines += [span.replace('\n', ' ')
              for _, span in INLINE_CODE.findall(FENCED_CODE.sub('', text))]
    return lines


def documented_options() -> dict[str, dict[str, set[str]]]:
    """tool path → {option → the pages that give it}, from every page's command lines."""
    found: dict[str, dict[str, set[str]]] = {}
    for page in PAGES:
        for line in command_lines(page.read_text(encoding='utf-8')):
            for tool, rest in TOOL.findall(line):
                if tool in OTHER_PROJECTS:
                    continue
                options = found.setdefault(tool, {})
                for option in OPTION.findall(rest):
                    options.setdefault(option, set()).add(page.relative_to(ROOT).as_posix())
    return found


DOCUMENTED = documented_options()


def help_text(tool: str) -> str:
    """``python TOOL --help`` as the tool prints it, run in this process."""
    script = load_script(ROOT / tool, f'doc_command_{Path(tool).stem}')
    output = io.StringIO()
    with (mock.patch.object(sys, 'argv', [tool, '--help']), contextlib.redirect_stdout(output),
          pytest.raises(SystemExit) as stop):
        script.main()
    assert stop.value.code in (0, None), f'{tool} --help exited with {stop.value.code}'
    return output.getvalue()


def test_the_docs_show_the_main_tools():
    """The reader of this test can trust that the pages were read at all."""
    assert {'tools/train.py', 'tools/test.py', 'tools/search.py',
            'tools/deployment/pytorch2onnx.py'} <= set(DOCUMENTED)
    assert '--resume' in DOCUMENTED['tools/train.py']


@pytest.mark.parametrize('tool', sorted(DOCUMENTED))
def test_every_documented_option_is_the_tools_own(tool):
    assert (ROOT / tool).is_file(), f'the docs show {tool}, which does not exist'
    accepted = set(OPTION.findall(help_text(tool)))
    unknown = {option: sorted(pages) for option, pages in DOCUMENTED[tool].items()
               if option not in accepted}
    assert not unknown, f'{tool} has no option {unknown} (shown on those pages)'


def test_every_config_file_the_pages_name_exists():
    named = {(page.relative_to(ROOT).as_posix(), path) for page in PAGES
             for path in CONFIG_FILE.findall(page.read_text(encoding='utf-8'))}
    assert len(named) > 20  # the pages were read
    missing = sorted((page, path) for page, path in named if not (ROOT / path).is_file()
                     and not PLACEHOLDER.fullmatch(Path(path).stem))
    assert not missing, f'pages name config files that do not exist: {missing}'
