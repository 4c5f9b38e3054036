"""Text files a dataset reads (annotation files, list files), decoded with one sentence
naming the file for an encoding other than UTF-8."""
import codecs

from rga_mm.errors import DatasetError

UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


def read_utf8_text(path: str, dataset_name: str) -> str:
    """The file ``path`` decoded as UTF-8, with or without a byte-order mark (which is
    dropped); a DatasetError, opening with ``dataset_name``, naming the file (and the line
    of the first bad byte) for any other encoding."""
    with open(path, 'rb') as file:
        data = file.read()
    if data.startswith(UTF16_BOMS):
        raise DatasetError(f'{dataset_name}: {path} is UTF-16 (it starts with a UTF-16 '
                           f'byte-order mark, as Excel\'s "Unicode Text" and PowerShell\'s > '
                           f'write); save it as UTF-8, e.g. as Excel\'s "CSV UTF-8" or with '
                           f'Out-File -Encoding utf8')
    try:
        return data.decode('utf-8-sig')
    except UnicodeDecodeError as error:
        line = error.object[:error.start].count(b'\n') + 1
        raise DatasetError(f'{dataset_name}: line {line} of {path} is not UTF-8 (byte '
                           f'{error.object[error.start]:#04x}, e.g. an accented letter in '
                           f'cp1252, the encoding of Excel\'s plain CSV on Western Windows); '
                           f'save the file as UTF-8, e.g. as Excel\'s "CSV UTF-8"') from None
