"""One sentence for a config ``type`` that no registry holds.

mmengine's registries raise a KeyError when a config names a ``type`` they do not hold (a
typo such as ``Market1502``, a module whose ``custom_imports`` is missing); through the
Runner it ends the run in a traceback whose last line is that KeyError's message, with a
link and no candidate. :func:`unregistered_type_message` turns it into one sentence with the
closest name the registry (or one of its parents, which a build also searches) holds, or the
package scope that holds the name.
"""
import re

from mmengine import registry as mmengine_registry
from mmengine.registry import Registry

from rga_mm.errors import closest_choice

# the start of mmengine's message: '<type> is not in the <scope>::<registry name> registry'
REGISTRY_MISS = re.compile(r'(?P<type>\S+) is not in the (?P<scope>\w+)::(?P<name>.+?) '
                           r'registry\b')


def unregistered_type_message(error: KeyError) -> str | None:
    """The sentence for mmengine's KeyError of a type its registry does not hold: the
    package scope whose registry holds the name (a bare rga_mm type in an mmpretrain or mmseg
    config), else the closest registered type, else what to check; None for any other
    KeyError."""
    match = REGISTRY_MISS.match(str(error.args[0]) if error.args else '')
    if match is None:
        return None
    name, scope, kind = match.group('type', 'scope', 'name')
    start = f'type={name!r} is not in the {scope}::{kind} registry'
    registry = scoped_registry(kind, scope)
    owners = [other.scope for other in kind_registries(kind)
              if name in other.module_dict and other.scope != scope]
    if owners:
        return (f"{start}; it is {owners[0]}'s: write type='{owners[0]}.{name}' in a config "
                f"whose default_scope is another package's")
    prefix, _, bare = name.rpartition('.')  # 'rga_mm.RGAA': compared without the scope
    close = closest_choice(bare, registered_names(registry) if registry is not None else [])
    if close is not None:
        return f"{start}; did you mean {f'{prefix}.{close}' if prefix else close!r}?"
    return (f'{start}: check the spelling in the config, or that its custom_imports import '
            f'the module that registers it')


def kind_registries(kind: str) -> list[Registry]:
    """mmengine's root registry named ``kind`` (``'dataset'``, ``'model'``) and all its
    descendants (one per package scope)."""
    found = []
    pending = [value for value in vars(mmengine_registry).values()
               if isinstance(value, Registry) and value.name == kind]
    while pending:
        registry = pending.pop()
        found.append(registry)
        pending.extend(registry.children.values())
    return found


def scoped_registry(kind: str, scope: str) -> Registry | None:
    """The registry named ``kind`` of ``scope`` (``'rga_mm'``, ``'mmpretrain'``); None where
    none is."""
    return next((registry for registry in kind_registries(kind) if registry.scope == scope),
                None)


def registered_names(registry: Registry) -> list[str]:
    """The types a build in ``registry`` finds without a scope prefix: its own and its
    parents'."""
    names = []
    while registry is not None:
        names += list(registry.module_dict)
        registry = registry.parent
    return list(dict.fromkeys(names))
