"""Search spaces. Each is a module with the same functions (see nb201.py):

    NAME, OPS, EDGES                     what the space is
    parse(str) / format(arch)            the space's architecture string, round-tripping
    enumerate_all(), canonical(arch),    enumeration and isomorphism classes
    num_unique(), sample(n, seed)        uniform sampling of distinct canonical cells
    build(arch, ...)                     a stand-alone network
    build_supernet(...)                  the weight-sharing network, called as net(x, arch)
    count_params_flops(arch, ...)        the benchmark's parameter and FLOP counts

A new space is a new module here plus one line in SPACES.
"""

from types import ModuleType

from nas.io import UserError
from nas.spaces import nb201

SPACES: dict[str, ModuleType] = {nb201.NAME: nb201}


def get_space(name: str) -> ModuleType:
    try:
        return SPACES[name]
    except KeyError:
        raise UserError(f"space.name: unknown space {name!r}; expected one of {', '.join(SPACES)}") from None
