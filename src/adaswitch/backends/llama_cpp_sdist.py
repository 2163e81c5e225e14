"""The llama-cpp-python source distribution: which version is installed, and fetching its sdist.

Both llama.cpp's server build (:mod:`adaswitch.backends.llama_server_build`) and its GGUF conversion
scripts (:mod:`adaswitch.learning.llama_cpp_tools`) come from the sdist of the installed version.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

SOURCE_ENV = "ADASWITCH_LLAMA_CPP_SOURCE"
DISTRIBUTION = "llama-cpp-python"


class ConversionToolsError(RuntimeError):
    """llama.cpp's sources (the conversion scripts, the server's) cannot be found or fetched."""


def llama_cpp_version() -> str:
    """The installed llama-cpp-python version (the converter is taken from the same release)."""
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise ConversionToolsError(
            f"{DISTRIBUTION} is not installed; install it with: pip install 'adaswitch[llama]'"
        ) from None


def download_sdist(version: str, into: Path) -> Path:
    """Fetch the llama-cpp-python sdist of ``version`` from PyPI into ``into``; return its path."""
    spec = f"{DISTRIBUTION}=={version}"
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
           spec, "-d", str(into)]
    done = subprocess.run(cmd, check=False, capture_output=True, text=True)
    archives = sorted(into.glob("*.tar.gz"))
    if done.returncode != 0 or not archives:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        raise ConversionToolsError(
            f"could not fetch the {spec} source distribution from PyPI (needed once for llama.cpp's "
            f"conversion scripts and server); set {SOURCE_ENV} to a llama.cpp source directory to work offline.\n{tail}"
        )
    return archives[0]
