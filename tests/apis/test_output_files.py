"""What a failed write of an output file tells the user to do, by the OS's reason."""
import errno

import pytest

from rga_mm.apis.output_files import write_error_fix, write_error_reason


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


def test_another_reason_offers_both():
    assert write_error_fix(OSError(errno.EIO, 'I/O error'), 'choose another path') == (
        'free space on that disk or raise the file-size limit (ulimit -f), or choose another '
        'path')
    assert write_error_fix(ValueError('no OS reason'), 'choose another path').endswith(
        ', or choose another path')


def test_a_name_too_long_for_the_file_system_asks_for_a_shorter_path(tmp_path):
    with pytest.raises(OSError) as raised:
        open(tmp_path / ('x' * 300), 'wb')
    assert raised.value.errno == errno.ENAMETOOLONG
    assert write_error_fix(raised.value, 'give another --out') == (
        'give another --out, with a shorter path')
