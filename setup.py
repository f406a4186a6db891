"""Package layout that pyproject.toml cannot express on its own.

The source folders ``cli/`` and ``parity/`` install as ``bpsom.cli`` and
``bpsom.parity``: generic top-level names such as ``cli`` would collide with a
user's own packages.  Everything else (metadata, extras) is in pyproject.toml.
"""

from setuptools import find_packages, setup

MAPPED = {"bpsom.cli": "cli", "bpsom.parity": "parity"}


def mapped_packages() -> list[str]:
    """Each mapped folder and its sub-packages, under their installed names."""
    names = []
    for name, folder in MAPPED.items():
        names.append(name)
        names += [f"{name}.{sub}" for sub in find_packages(folder, exclude=["fixtures*"])]
    return names


setup(
    packages=find_packages(include=["bpsom", "bpsom.*", "bpsom_core*", "bpsom_bert*"]) + mapped_packages(),
    package_dir=MAPPED,
)
