"""tools/misc/check_dataset.py's progress: mmengine's live bar on a terminal, a few plain
lines with counts in a log file or a pipe (a CI log, ``| tee``, nohup), where the bar would
write one carriage-return update per image."""
import io
import re
from contextlib import redirect_stdout
from pathlib import Path

import pytest

from rga_mm.datasets.image_progress import plain_progress
from rga_mm.testing import load_script

ROOT = Path(__file__).parents[2]
CONFIG = ROOT / 'configs/demo/rga-sc_r18-ls1_1xb32-80e_synthetic-market-64x32.py'
PROGRESS = re.compile(r'^checked (\d+)/(\d+) images \((\d+) %\), \d+ s$', re.MULTILINE)


@pytest.fixture(scope='module')
def check_dataset():
    """The tool as a module, to call its ``main(argv)``; registered, so that its functions
    can be pickled for worker processes."""
    return load_script(ROOT / 'tools/misc/check_dataset.py', 'check_dataset', register=True)


def _argv(data_root: Path, nproc: int) -> list[str]:
    """The demo config with every split on ``data_root``."""
    return [str(CONFIG), '--nproc', str(nproc), '--cfg-options',
            *(f'{split}_dataloader.dataset.data_root={data_root}'
              for split in ('train', 'val', 'test'))]


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize('nproc', [1, 2])
def test_a_log_file_gets_ten_plain_progress_lines_and_the_summary(check_dataset, tiny_market,
                                                                  tmp_path, nproc):
    log = tmp_path / 'check.log'
    with log.open('w') as file, redirect_stdout(file):
        assert check_dataset.main(_argv(tiny_market, nproc)) == 0
    out = log.read_text()
    total = int(re.search(r'^all (\d+) images can be read$', out, re.MULTILINE).group(1))
    progress = PROGRESS.findall(out)
    assert 1 <= len(progress) <= 10 and '\r' not in out
    assert progress[-1] == (str(total), str(total), '100')


def test_a_terminal_keeps_the_live_bar(check_dataset, tiny_market):
    terminal = FakeTerminal()
    with redirect_stdout(terminal):
        assert check_dataset.main(_argv(tiny_market, 1)) == 0
    assert not PROGRESS.search(terminal.getvalue())
    assert re.search(r'all \d+ images can be read', terminal.getvalue())


@pytest.mark.parametrize('total', [1, 3, 10, 91, 100_000])
def test_plain_progress_prints_at_most_one_line_per_tenth(total):
    out = io.StringIO()
    assert list(plain_progress(range(total), total, file=out)) == list(range(total))
    lines = out.getvalue().splitlines()
    assert len(lines) == min(total, 10) and lines[-1].startswith(f'checked {total}/{total} ')


def test_plain_progress_also_prints_when_the_interval_passed():
    out = io.StringIO()
    list(plain_progress(range(50), 50, file=out, interval_s=0))
    assert len(out.getvalue().splitlines()) == 50


def test_no_process_count_and_a_config_without_datasets_are_refused(check_dataset, tmp_path,
                                                                     capsys):
    for nproc in ('0', '-1'):
        with pytest.raises(SystemExit):
            check_dataset.parse_args([str(CONFIG), '--nproc', nproc])
        assert 'argument --nproc: must be a positive integer' in capsys.readouterr().err
    no_data = tmp_path / 'no_data.py'
    no_data.write_text('x = 1\n')
    with pytest.raises(SystemExit, match=f'^the config {no_data} has no dataset in '
                                         f'train_dataloader, val_dataloader or test_dataloader '
                                         f'to check$'):
        check_dataset.main([str(no_data)])
