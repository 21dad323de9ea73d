"""Package layout (the rest of the metadata is in pyproject.toml).

locales/ and data/ stay at the top of the repository but ship inside the wheel as
promptmgr/_locales and promptmgr/_data: pyproject.toml cannot map extra folders into the package
while also finding the package's subpackages, so that one mapping lives here."""
from setuptools import find_namespace_packages, setup

setup(
    packages=[*find_namespace_packages(include=["promptmgr", "promptmgr.*"], exclude=["*.__pycache__"]),
              "promptmgr._locales", "promptmgr._data"],
    package_dir={"promptmgr._locales": "locales", "promptmgr._data": "data"},
    package_data={
        "promptmgr": ["migrations/*.mako", "web/templates/*.html"],
        "promptmgr._locales": ["*.yml"],
        "promptmgr._data": ["**/*"],
    },
)
