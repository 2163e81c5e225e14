"""llama.cpp's ``llama-server`` binary: where it is, and building it from the llama-cpp-python sdist.

The llama-cpp-python wheel carries the engine as a library but no server. Its source distribution
carries all of llama.cpp (``vendor/llama.cpp``), which builds ``llama-server`` with CMake and a C++
compiler: continuous batching of many sequences, a prompt cache per slot, GBNF grammars and
per-token probabilities. The binary is found, in order:

1. at the path named by ``ADASWITCH_LLAMA_SERVER``;
2. in the cache directory, ``<cache>/tools/llama-server-<version>/llama-server``, put there by
   :func:`build_llama_server` (``adaswitch models prepare-server``; about 25 minutes on 2 cores).

The build is static (one self-contained file). On a CPU that advertises AMX (Intel Sapphire Rapids
and later, often in VMs that cannot run AMX code) it is built for the CPU's AVX2/AVX-512 features
with AMX off, instead of ``GGML_NATIVE``, which would compile in the AMX kernels that crash there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from adaswitch.backends.llama_cpp_sdist import download_sdist, llama_cpp_version

SERVER_ENV = "ADASWITCH_LLAMA_SERVER"
BINARY = "llama-server"
MARKER = "BUILT.json"

_AVX_OPTIONS = {
    # cpuinfo flag -> ggml CMake option
    "avx": "GGML_AVX",
    "avx2": "GGML_AVX2",
    "fma": "GGML_FMA",
    "f16c": "GGML_F16C",
    "avx512f": "GGML_AVX512",
    "avx512vbmi": "GGML_AVX512_VBMI",
    "avx512_vnni": "GGML_AVX512_VNNI",
    "avx512_bf16": "GGML_AVX512_BF16",
    "avx_vnni": "GGML_AVX_VNNI",
}


class LlamaServerBuildError(RuntimeError):
    """The server binary cannot be found or built."""


def server_dir(cache_dir: Path | None = None, version: str | None = None) -> Path:
    """Where the built binary of ``version`` (default: the installed llama-cpp-python) lives."""
    from adaswitch.embedded import default_cache_dir

    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    return cache / "tools" / f"llama-server-{version or llama_cpp_version()}"


def find_llama_server(cache_dir: Path | None = None) -> Path | None:
    """The binary from ``ADASWITCH_LLAMA_SERVER`` or the cache; None when neither exists.

    A path named by the environment variable that is not an executable file is an error."""
    named = os.environ.get(SERVER_ENV)
    if named:
        path = Path(named).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise LlamaServerBuildError(f"{SERVER_ENV}={named} is not an executable file")
        return path
    built = server_dir(cache_dir) / BINARY
    if built.is_file() and (built.parent / MARKER).is_file():
        return built
    return None


def llama_server_binary(cache_dir: Path | None = None) -> Path:
    """The binary, or an error that says how to get one."""
    path = find_llama_server(cache_dir)
    if path is None:
        raise LlamaServerBuildError(
            f"llama-server is not built in {server_dir(cache_dir)}; run 'adaswitch models prepare-server' "
            f"(needs PyPI, CMake and a C++ compiler) or set {SERVER_ENV} to a llama-server binary"
        )
    return path


def cmake_cpu_options(cpu_flags: set[str]) -> list[str]:
    """CMake options for this CPU: native unless it advertises AMX, else its AVX features, AMX off."""
    if not any(flag.startswith("amx") for flag in cpu_flags):
        return ["-DGGML_NATIVE=ON"]
    options = ["-DGGML_NATIVE=OFF"]
    for flag, option in _AVX_OPTIONS.items():
        options.append(f"-D{option}={'ON' if flag in cpu_flags else 'OFF'}")
    options += ["-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AMX_BF16=OFF"]
    return options


def read_cpu_field(name: str, cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The value of field ``name`` for the first CPU in ``/proc/cpuinfo`` (None where absent)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == name:
            return value.strip()
    return None


def read_cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The flags of the first CPU in ``/proc/cpuinfo`` (empty where there is no such file)."""
    return set((read_cpu_field("flags", cpuinfo) or "").split())


def build_llama_server(
    cache_dir: Path | None = None,
    *,
    sdist: Path | None = None,
    jobs: int | None = None,
    force: bool = False,
) -> Path:
    """Build ``llama-server`` from the llama-cpp-python sdist into the cache; idempotent.

    ``sdist`` is a local ``llama_cpp_python-<version>.tar.gz``; without it the installed version's
    sdist is fetched with ``pip download``. The build log is kept beside the binary."""
    version = llama_cpp_version()
    target = server_dir(cache_dir, version)
    if not force and (target / BINARY).is_file() and (target / MARKER).is_file():
        return target / BINARY
    for tool in ("cmake", "c++"):
        if shutil.which(tool) is None:
            raise LlamaServerBuildError(f"building llama-server needs {tool!r} on PATH")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".build-") as scratch:
        work = Path(scratch)
        archive = Path(sdist) if sdist is not None else download_sdist(version, work)
        source = _unpack_sources(archive, work / "src")
        options = cmake_cpu_options(read_cpu_flags())
        log = work / "build.log"
        _run(["cmake", "-S", str(source), "-B", str(work / "build"), "-DCMAKE_BUILD_TYPE=Release",
              "-DBUILD_SHARED_LIBS=OFF", "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF",
              "-DLLAMA_BUILD_EXAMPLES=OFF", *options], log)
        _run(["cmake", "--build", str(work / "build"), "--target", BINARY, "-j", str(jobs or os.cpu_count() or 1)], log)
        binary = next((work / "build").rglob(BINARY), None)
        if binary is None or not binary.is_file():
            raise LlamaServerBuildError(f"the build finished without a {BINARY} binary; see {log}")
        staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
        shutil.copy2(binary, staging / BINARY)
        shutil.copy2(log, staging / "build.log")
        (staging / MARKER).write_text(json.dumps({"version": version, "sdist": archive.name,
                                                  "cmake_options": options}, indent=2) + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    return target / BINARY


def _unpack_sources(archive: Path, into: Path) -> Path:
    """Unpack the sdist's ``vendor/llama.cpp`` tree; return its root."""
    into.mkdir(parents=True)
    with tarfile.open(archive, "r:gz") as tar:
        members = [m for m in tar.getmembers() if "/vendor/llama.cpp/" in m.name and ".." not in m.name]
        if not members:
            raise LlamaServerBuildError(f"{archive.name} has no vendor/llama.cpp sources")
        tar.extractall(into, members=members, filter="data")
    roots = list(into.glob("*/vendor/llama.cpp"))
    if len(roots) != 1:
        raise LlamaServerBuildError(f"{archive.name}: expected one vendor/llama.cpp, found {len(roots)}")
    return roots[0]


def _run(cmd: list[str], log: Path) -> None:
    with log.open("a", encoding="utf-8") as out:
        out.write("$ " + " ".join(cmd) + "\n")
        out.flush()
        done = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, check=False)
    if done.returncode != 0:
        tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:])
        raise LlamaServerBuildError(f"{cmd[0]} failed (exit {done.returncode}):\n{tail}")
