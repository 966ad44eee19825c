"""Search spaces: the registry of `SearchSpace` instances (the interface is in base.py).

    SPACES            name -> space, for every space the pipeline can run (space.name in params.yaml)
    get_space(name)   the space, or a UserError naming the known ones
    study_space(s)    the space a study's `space` section names, with its isomorphism convention
    register_space()  add a space at run time (e.g. in tests); a taken name is refused

A space implements `nas.spaces.base.SearchSpace` (choices, parse/format, sampling and isomorphism,
build/build_supernet, counts; a super-net is built from one `NetworkSettings` value); shared operations
are in ops.py. A new space = one new module here (a `SearchSpace` subclass and its instance) + one line
in SPACES.
"""

from nas.io import UserError
from nas.settings import show
from nas.spaces import darts, nb101, nb201, zhang64
from nas.spaces.base import NetworkSettings, SearchSpace  # noqa: F401  (NetworkSettings: re-exported)

SPACES: dict[str, SearchSpace] = {
    nb201.SPACE.name: nb201.SPACE,
    darts.SPACE.name: darts.SPACE,
    zhang64.SPACE.name: zhang64.SPACE,
    nb101.SPACE.name: nb101.SPACE,
}


def get_space(name: str) -> SearchSpace:
    try:
        return SPACES[name]
    except KeyError:
        raise UserError(f"space.name: unknown space {show(name)}; expected one of {', '.join(SPACES)}") from None


def study_space(settings) -> SearchSpace:
    """The space that a study's `space` section (nas.config.SpaceConfig) names, with its isomorphism
    convention. Stages reach their space through this module, so its code is a dep of theirs."""
    return get_space(settings.name).with_isomorphism(settings.isomorphism)


def register_space(space: SearchSpace) -> SearchSpace:
    """Add `space` to SPACES under its name; refuses a name that is taken or an object that is not a
    SearchSpace. Returns the space."""
    if not isinstance(space, SearchSpace):
        raise TypeError(f"register_space: {space!r} is not a SearchSpace")
    if space.name in SPACES:
        raise ValueError(f"register_space: the name {space.name!r} is taken by {SPACES[space.name]!r}")
    SPACES[space.name] = space
    return space
