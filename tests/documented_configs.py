"""A config shown in a docs page, written where the page tells the reader to put it."""
import re
import shutil
from pathlib import Path

ROOT = Path(__file__).parents[1]


def write_documented_config(page: str, section: str, path: str, tmp_path: Path) -> Path:
    """Write the first Python block after the heading ``section`` of ``docs/<page>`` to
    ``tmp_path / path`` (e.g. ``my_configs/NAME.py``) beside a copy of ``configs/``, so that
    its ``_base_`` paths resolve as they do in the repository; returns the written file."""
    text = (ROOT / 'docs' / page).read_text(encoding='utf-8')
    snippet = re.search(r'```python\n(.*?)```', text[text.index(section):], re.S).group(1)
    shutil.copytree(ROOT / 'configs', tmp_path / 'configs')
    config = tmp_path / path
    config.parent.mkdir(parents=True)
    config.write_text(snippet)
    return config
