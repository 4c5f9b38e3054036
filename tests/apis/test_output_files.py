"""What a failed write of an output file tells the user to do, by the OS's reason."""
import errno
import os

import pytest

from rga_mm.apis.output_files import write_error_fix, write_error_reason, write_failure


def _failed_write(code: int) -> RuntimeError:
    """A failed write as ``torch.save`` reports one: a RuntimeError raised while handling
    the OSError."""
    try:
        try:
            raise OSError(code, f'strerror {code}')
        except OSError:
            raise RuntimeError('file write failed')
    except RuntimeError as error:
        return error


@pytest.mark.parametrize('code', [errno.ENOSPC, errno.EFBIG, errno.EDQUOT])
def test_a_full_disk_or_file_size_limit_asks_for_room(code):
    assert write_error_fix(OSError(code, 'no room'), 'give another --out') == (
        'free space on that disk or raise the file-size limit (ulimit -f)')


@pytest.mark.parametrize('code', [errno.EACCES, errno.EPERM, errno.EROFS])
def test_a_place_without_write_permission_asks_for_another(code):
    error = _failed_write(code)
    assert write_error_reason(error) == f'strerror {code}'
    assert write_error_fix(error, 'give another --out') == (
        'give another --out, one this process may write to')


def test_another_reason_asks_for_another_place_alone(tmp_path):
    """A folder where the file should be ('Is a directory'): no advice about room."""
    with pytest.raises(OSError) as raised:
        open(tmp_path, 'wb')
    assert write_failure(tmp_path, raised.value, 'choose another path') == (
        f'could not write {tmp_path} (Is a directory), the earlier file left as it was: '
        f'choose another path')
    assert write_error_fix(ValueError('no OS reason'), 'choose another path') == (
        'choose another path')


def test_a_missing_folder_asks_for_it(tmp_path):
    path = tmp_path / 'gone' / 'c.png'
    with pytest.raises(OSError) as raised:
        open(f'{path}.partial', 'wb')
    assert write_failure(path, raised.value, 'give another --out') == (
        f'could not write {path} (No such file or directory): create the folder '
        f'{tmp_path / "gone"} or give another --out')


@pytest.mark.skipif(not os.path.isdir('/proc/self'), reason='needs Linux /proc')
def test_a_folder_that_takes_no_new_files_asks_for_another_place():
    """/proc exists, yet creating a file in it fails as 'No such file or directory'."""
    with pytest.raises(OSError) as raised:
        open('/proc/c.png.partial', 'wb')
    assert write_failure('/proc/c.png', raised.value, 'give another --out') == (
        'could not write /proc/c.png (No such file or directory): give another --out, in a '
        'folder that takes new files (/proc does not)')


def test_a_name_too_long_for_the_file_system_asks_for_a_shorter_path(tmp_path):
    with pytest.raises(OSError) as raised:
        open(tmp_path / ('x' * 300), 'wb')
    assert raised.value.errno == errno.ENAMETOOLONG
    assert write_error_fix(raised.value, 'give another --out') == (
        'give another --out, with a shorter path')
