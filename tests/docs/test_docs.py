"""The README is a front door and the docs stand alone.

README.md stays short (what it is, install, quick start, links); the rest lives in docs/.
Every relative link of README.md, docs/*.md and the configs' READMEs reaches a file of the
repository (and a heading of it, for a link with an anchor), the sdist ships what the README
links to, and no file refers the reader to notes outside the repository.
"""
import fnmatch
import re
import subprocess
from pathlib import Path

import pytest

from doc_pages import DOCS, FENCED_CODE, INLINE_CODE, PAGES, ROOT

README_MAX_BYTES = 15_000
# written in two parts so that this file does not match them itself
FORBIDDEN = ('..' + '/shared', 'design' + ' §')

LINK = re.compile(r'!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)')
HEADING = re.compile(r'^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$', re.M)


def _prose(text: str) -> str:
    """The Markdown without code blocks and code spans, where links are not links."""
    return INLINE_CODE.sub('', FENCED_CODE.sub('', text))


def _anchors(page: Path) -> set[str]:
    """GitHub's anchors of a page's headings: lower case, punctuation dropped, spaces to
    hyphens, and -1, -2, ... for repeated ones."""
    anchors, seen = set(), {}
    for heading in HEADING.findall(FENCED_CODE.sub('', page.read_text(encoding='utf-8'))):
        heading = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', heading).replace('`', '')
        slug = re.sub(r'[^\w\- ]', '', heading.lower()).replace(' ', '-')
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        anchors.add(slug if count == 0 else f'{slug}-{count}')
    return anchors


def _relative_links(page: Path) -> list[str]:
    links = LINK.findall(_prose(page.read_text(encoding='utf-8')))
    return [link for link in links if not re.match(r'^[a-z][a-z0-9+.-]*:', link, re.I)]


def test_the_readme_is_at_most_15_kb():
    size = (ROOT / 'README.md').stat().st_size
    assert size <= README_MAX_BYTES, (
        f'README.md is {size} bytes (limit {README_MAX_BYTES}): move the detail to docs/')


def test_the_docs_pages_exist_and_the_readme_links_each():
    names = {page.name for page in DOCS}
    assert {'get_started.md', 'reid.md', 'segmentation.md', 'classification.md',
            'attention_zoo.md', 'inference_deployment.md', 'benchmarks.md',
            'architecture.md'} <= names
    linked = {Path(link.split('#')[0]).name for link in _relative_links(ROOT / 'README.md')
              if link.startswith('docs/')}
    assert names <= linked, f'README.md does not link {sorted(names - linked)}'


@pytest.mark.parametrize('page', PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    broken = []
    for link in _relative_links(page):
        path, _, anchor = link.partition('#')
        target = (page.parent / path).resolve() if path else page
        if not target.exists() or ROOT.resolve() not in (target, *target.parents):
            broken.append(f'{link} (no such file in the repository)')
        elif anchor and target.suffix == '.md' and anchor not in _anchors(target):
            broken.append(f'{link} (no heading with that anchor)')
    assert broken == [], f'{page.relative_to(ROOT)}: ' + '; '.join(broken)


def test_the_sdist_ships_what_the_readme_links_to():
    """MANIFEST.in must include every file README.md links to (setup.py makes the README
    the package's long description)."""
    rules = [line.split() for line in (ROOT / 'MANIFEST.in').read_text().splitlines()
             if line.strip() and not line.startswith('#')]

    def shipped(relative: str) -> bool:
        for command, *patterns in rules:
            if command == 'include' and any(fnmatch.fnmatch(relative, p) for p in patterns):
                return True
            if command == 'recursive-include':
                folder, *names = patterns
                if (relative.startswith(folder.rstrip('/') + '/')
                        and any(fnmatch.fnmatch(Path(relative).name, n) for n in names)):
                    return True
        return False

    targets = {link.partition('#')[0] for link in _relative_links(ROOT / 'README.md')}
    missing = sorted(t for t in targets if t and not shipped(Path(t).as_posix()))
    assert missing == [], f'MANIFEST.in does not ship {missing}'


def _project_files() -> list[Path]:
    """Tracked and untracked files that git does not ignore; without git, every file but
    the environment and build outputs."""
    try:
        listed = subprocess.run(
            ['git', 'ls-files', '--cached', '--others', '--exclude-standard', '-z'],
            cwd=ROOT, capture_output=True, check=True, timeout=60).stdout.decode()
        files = [ROOT / name for name in listed.split('\0') if name]
    except (OSError, subprocess.SubprocessError):
        skip = {'.git', '.venv', 'build', 'dist', 'work_dirs', 'data', 'checkpoints',
                '__pycache__', '.mim'}
        files = [p for p in ROOT.rglob('*')
                 if not skip & set(p.relative_to(ROOT).parts)]
    return [path for path in files if path.is_file()]


def test_no_file_refers_to_notes_outside_the_repository():
    """Comments and docs cite the paper's sections or the project's own docs only."""
    offenders = []
    for path in _project_files():
        content = path.read_bytes()
        offenders += [f'{path.relative_to(ROOT)}: {text!r}' for text in FORBIDDEN
                      if text.encode() in content.lower()]
    assert offenders == []
