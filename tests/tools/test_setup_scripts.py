"""The set-up scripts: a second run of the environment script installs nothing, and the GPU
check refuses a missing wheel folder and a machine without CUDA in one sentence each."""
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).parents[2]


def _bash(*args: str, env: dict = None) -> subprocess.CompletedProcess:
    return subprocess.run(['bash', *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)


@pytest.mark.skipif(not (ROOT / '.venv/.rga_mm-full').is_file(),
                    reason='runs inside the environment that tools/misc/ensure_env.sh made')
@pytest.mark.parametrize('profile', ['core', 'full'])
def test_a_second_run_installs_nothing(profile):
    """The test command made the full environment: both profiles are current, so the script
    returns at once without calling pip (it prints a line whenever it installs)."""
    result = _bash('tools/misc/ensure_env.sh', profile)
    assert result.returncode == 0, result.stderr
    assert result.stdout == '' and result.stderr == ''


def test_an_unknown_profile_is_refused():
    result = _bash('tools/misc/ensure_env.sh', 'gpu')
    assert result.returncode == 2
    assert result.stderr.strip() == ("usage: bash tools/misc/ensure_env.sh [core|full] "
                                     "(got 'gpu')")


def test_gpu_check_names_a_missing_wheel_folder_and_the_command_that_makes_it(tmp_path):
    missing = tmp_path / 'no_wheels'
    result = _bash('tools/misc/gpu_check.sh', str(missing),
                   env={'PATH': '/usr/bin:/bin', 'GPU_CHECK_LOG': str(tmp_path / 'log')})
    assert result.returncode == 1
    assert (f'the wheel folder {missing} does not exist; make it on a networked machine with '
            '`bash tools/misc/make_gpu_wheels.sh`') in result.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the message of a CPU machine')
def test_gpu_check_without_cuda_says_so_in_one_line(tmp_path):
    """A complete wheel folder (file names are all the check reads before CUDA) on a machine
    without CUDA: one line, exit status 1, nothing installed."""
    wheels = tmp_path / 'wheels'
    wheels.mkdir()
    listing = _bash('tools/misc/make_gpu_wheels.sh', '--list').stdout.splitlines()
    assert any(line.startswith('mmengine==') for line in listing)
    for line in listing:
        (wheels / f'{line.split()[1]}py3-none-any.whl').touch()
    python_dir = str(Path(sys.executable).parent)
    result = _bash('tools/misc/gpu_check.sh', str(wheels),
                   env={'PATH': f'{python_dir}:/usr/bin:/bin', 'PYTHON': sys.executable,
                        'GPU_CHECK_LOG': str(tmp_path / 'log')})
    assert result.returncode == 1
    assert result.stdout.strip().splitlines() == [
        f'gpu_check: no CUDA device found ({sys.executable}: torch.cuda.is_available() is '
        'not True).']
