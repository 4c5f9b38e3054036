"""The documentation pages and the Markdown code patterns the docs tests read them with
(importable as ``doc_pages`` from this folder, which pytest puts on ``sys.path``)."""
import re
from pathlib import Path

ROOT = Path(__file__).parents[2]
DOCS = sorted((ROOT / 'docs').glob('*.md'))
CONFIG_READMES = sorted((ROOT / 'configs').glob('*/README.md'))
PAGES = [ROOT / 'README.md', *DOCS, *CONFIG_READMES]
# a fenced code block (group 2: its lines) and a code span (group 2: its text)
FENCED_CODE = re.compile(r'^(```|~~~)[^\n]*\n(.*?)^\1[ \t]*$', re.S | re.M)
INLINE_CODE = re.compile(r'(`+)(.+?)\1', re.S)
