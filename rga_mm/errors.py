"""The errors whose message is the whole story: one sentence naming what is wrong and the
fix. The tools print them alone, without a traceback through mmengine; both are
``ValueError``\\ s, so code that catches those keeps working."""


class DatasetError(ValueError):
    """A malformed dataset: a bad file name or annotation row, an empty split, a duplicate
    path, a query identity without a gallery image. The message names the file (and line)
    and the fix."""


class ConfigError(ValueError):
    """A component configured with a value it cannot work with, or built for data of
    another shape than it receives (a feature map of another size, more identities than
    its classifier has): the message names the setting to change."""
