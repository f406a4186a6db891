"""The installed package exposes no generic top-level names, and `python -m bpsom` works."""

from __future__ import annotations

import subprocess
import sys


def _python(code_or_args: list[str], cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *code_or_args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_python_dash_m_bpsom_prints_the_version(tmp_path):
    from bpsom_core import __version__

    done = _python(["-m", "bpsom", "--version"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert __version__ in done.stdout


def test_generic_names_cli_and_parity_are_not_installed(tmp_path):
    # Run outside the source tree, so only what the installation provides is importable.
    for name in ("cli", "parity"):
        done = _python(["-c", f"import {name}"], cwd=tmp_path)
        assert done.returncode != 0, f"'import {name}' works: the install leaks a generic top-level name"
    done = _python(["-c", "import bpsom.cli.main, bpsom.parity.replay"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_packages_are_typed():
    from importlib import resources

    for package in ("bpsom", "bpsom_core", "bpsom_bert"):
        assert resources.files(package).joinpath("py.typed").is_file(), package
