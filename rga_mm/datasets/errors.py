"""The error of a dataset that cannot be read as its layout says."""


class DatasetError(ValueError):
    """A malformed dataset: a bad file name or annotation row, an empty split, a duplicate
    path, a query identity without a gallery image. The message is one sentence naming the
    file (and line) and the fix; the tools print it alone, without a traceback."""
