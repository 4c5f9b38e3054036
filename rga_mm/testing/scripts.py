"""A tool script (``tools/**/*.py``, not a package) loaded as a module, so that a test can
call its functions (``main(argv)``, its checks) in the test's own process."""
import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def load_script(path: str | Path, name: str | None = None,
                register: bool = False) -> ModuleType:
    """The script at ``path`` as a fresh module named ``name`` (default: the file's stem).

    With ``register`` the module is entered in ``sys.modules`` under that name, so that
    functions defined in it can be pickled (for DataLoader worker processes); choose a name
    no installed package uses.
    """
    path = Path(path)
    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    module = importlib.util.module_from_spec(spec)
    if register:
        sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
