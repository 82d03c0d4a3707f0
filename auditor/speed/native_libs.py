"""WeasyPrint imported without its library search spawning compilers.

WeasyPrint opens Pango, HarfBuzz, GObject and fontconfig through cffi under several names each
(Windows and macOS spellings first, then the Linux soname). On Linux every name that does not open
at once goes to :func:`ctypes.util.find_library`, which runs ``ldconfig -p``, then ``gcc`` and
``ld`` in subprocesses: 22 look-ups, about 0.35 s of a 0.75 s import on these machines (measured
with cProfile: ctypes.util.find_library 0.369 s). Here the import gets the answer of the dynamic
linker's cache, read once (one ``ldconfig -p``), for the time of the import. A name the cache does
not hold is not found (as the real look-up would, unless a library is outside the cache's folders);
if the import fails that way, it is done again with the real look-up, so this only ever costs time.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from types import ModuleType

# ctypes.util's ABI tags of ldconfig's cache lines (its _findSoname_ldconfig): other machines "libc6"
_ABI = {"x86_64-64": "libc6,x86-64", "ppc64-64": "libc6,64bit", "sparc64-64": "libc6,64bit",
        "s390x-64": "libc6,64bit", "ia64-64": "libc6,IA-64"}


def ldconfig_sonames() -> dict[str, str] | None:
    """{"libpango-1.0": "libpango-1.0.so.0", ...} from ``ldconfig -p`` for this process's ABI, the
    first entry of each name as ctypes.util takes it; None when the cache cannot be read."""
    ldconfig = shutil.which("ldconfig") or next((p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig")
                                                  if os.access(p, os.X_OK)), None)
    if ldconfig is None:
        return None
    try:
        out = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, timeout=10,
                             env={"LC_ALL": "C", "LANG": "C"}, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    bits = "64" if sys.maxsize > 2**32 else "32"
    abi = _ABI.get(f"{platform.machine()}-{bits}", "libc6")
    sonames: dict[str, str] = {}
    for line in out.splitlines():
        soname, _, rest = line.strip().partition(" (")
        if ".so" in soname and rest.startswith(abi):
            sonames.setdefault(soname.split(".so", 1)[0], soname)
    return sonames or None


def _cached_lookup(sonames: dict[str, str]) -> Callable[[str], str | None]:
    def find_library(name: str) -> str | None:
        return sonames.get("lib" + name)

    return find_library


def import_weasyprint() -> ModuleType:
    """``import weasyprint``, with library look-ups answered from the linker cache on Linux
    (unless LD_LIBRARY_PATH names other folders); the plain import anywhere else or on failure."""
    if "weasyprint" in sys.modules:
        return sys.modules["weasyprint"]
    import ctypes.util

    sonames = ldconfig_sonames() if sys.platform.startswith("linux") and not os.environ.get("LD_LIBRARY_PATH") \
        else None
    if sonames:
        real = ctypes.util.find_library
        ctypes.util.find_library = _cached_lookup(sonames)
        try:
            import weasyprint

            return weasyprint
        except (OSError, ImportError):  # half-imported modules dropped, then the plain import below
            for name in [m for m in sys.modules if m == "weasyprint" or m.startswith("weasyprint.")]:
                del sys.modules[name]
        finally:
            ctypes.util.find_library = real
    import weasyprint

    return weasyprint
