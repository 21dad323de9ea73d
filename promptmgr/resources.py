"""The files promptmgr ships beside its code: translations (locales/) and the starter library,
builder templates and system prompts (data/).

In the repository both folders sit at the top, where the design names them; a wheel carries them
inside the package as promptmgr/_locales and promptmgr/_data (setup.py maps them there). Both are
found through importlib.resources, so an installed wheel never reads from a source tree."""
from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

_SOURCE_ROOT = Path(__file__).resolve().parent.parent


def _folder(name: str) -> Traversable:
    packaged = files(__package__).joinpath(f"_{name}")
    if packaged.is_dir():
        return packaged
    # A source checkout or an editable install: the folder at the top of the repository.
    return _SOURCE_ROOT / name


def locales_dir() -> Path:
    """The folder of <namespace>.<locale>.yml files, as a real directory (python-i18n lists it)."""
    return Path(str(_folder("locales")))


def data_path(name: str) -> Path:
    """The path of one shipped data file, e.g. data_path("builder_templates.yaml")."""
    return Path(str(_folder("data").joinpath(name)))


def data_text(name: str) -> str:
    """The text of one shipped data file, e.g. data_text("starter_library.yaml")."""
    return _folder("data").joinpath(name).read_text(encoding="utf-8")
