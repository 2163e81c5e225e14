"""Keep training's resident memory flat: large blocks go straight back to the operating system.

Training on this CPU allocates logit and gradient tensors of a different size at every step
(packed trajectories vary in length). glibc's allocator serves such blocks from its heap arenas and
keeps the freed ones for reuse; blocks of new sizes fragment the arenas, and the resident size grew
steadily (15 to 21 GB in ten minutes) until the kernel killed the process. Serving every block of
128 KiB or more with ``mmap`` (returned on ``free``) and trimming the heap past the same size keeps
the resident size at what is live (measured: 4 to 14 GB over the same steps). This is
``MALLOC_MMAP_THRESHOLD_``/``MALLOC_TRIM_THRESHOLD_`` set from inside the process.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
"""glibc's ``mallopt`` parameter numbers (``malloc.h``)."""
LARGE_BLOCK = 128 * 1024


def return_large_blocks_to_the_os(threshold: int = LARGE_BLOCK) -> bool:
    """Ask glibc to ``mmap`` blocks of ``threshold`` bytes or more and to trim its heap past it; True
    when glibc accepted both, False where there is no glibc (another C library, another OS)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    accepted = mallopt(M_MMAP_THRESHOLD, threshold) == 1 and mallopt(M_TRIM_THRESHOLD, threshold) == 1
    if not accepted:
        log.warning("the C library refused mallopt; training memory may grow with fragmentation")
    return accepted
