"""WeasyPrint imported with its library look-ups answered from the linker cache (auditor/speed/native_libs.py)."""

from __future__ import annotations

import ctypes.util
import json
import os
import subprocess
import sys

import pytest

from auditor.speed import native_libs

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the linker cache is Linux's")

# In a fresh interpreter: import WeasyPrint our way, then report which libraries it opened and
# whether find_library is the real one again.
_PROBE = r"""
import ctypes.util, json, sys
real = ctypes.util.find_library
calls = []
def counting(name):
    calls.append(name)
    return real(name)
ctypes.util.find_library = counting
from auditor.speed.native_libs import import_weasyprint
weasyprint = import_weasyprint()
import weasyprint.text.ffi as ffi
print(json.dumps({"real_lookups": len(calls), "restored": ctypes.util.find_library is counting,
                  "pango": ffi.pango.pango_version() > 0, "layout": bool(weasyprint.HTML(string="<p>x</p>")
                  .render().pages)}))
"""


@linux
def test_the_cache_answers_as_ctypes_does():
    sonames = native_libs.ldconfig_sonames()
    assert sonames, "ldconfig -p gave nothing"
    for name in ("c", "m", "pango-1.0", "gobject-2.0", "harfbuzz", "fontconfig", "no-such-library-xyz",
                 "libgobject-2.0-0"):  # the last two: names WeasyPrint tries that are found nowhere
        assert native_libs._cached_lookup(sonames)(name) == ctypes.util.find_library(name), name


@linux
def test_weasyprint_imports_without_the_real_lookup_and_works():
    env = {**os.environ, "PYTHONPATH": ROOT}
    env.pop("LD_LIBRARY_PATH", None)
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, env=env, check=True,
                         timeout=120).stdout
    probe = json.loads(out.splitlines()[-1])
    assert probe == {"real_lookups": 0, "restored": True, "pango": True, "layout": True}


@linux
def test_a_failed_fast_import_is_done_again_the_plain_way():
    """An import that fails with the cached answers (here: a look-up that raises) drops the half-
    imported modules and imports WeasyPrint again with the real look-up, which then works."""
    env = {**os.environ, "PYTHONPATH": ROOT}
    env.pop("LD_LIBRARY_PATH", None)
    probe = ("import ctypes.util, json, sys\n"
             "from auditor.speed import native_libs\n"
             "def broken(sonames):\n"
             "    def find_library(name):\n"
             "        raise ImportError('cache answer refused')\n"
             "    return find_library\n"
             "native_libs._cached_lookup = broken\n"
             "real = ctypes.util.find_library\n"
             "wp = native_libs.import_weasyprint()\n"
             "import weasyprint.text.ffi as ffi\n"
             "print(json.dumps([ctypes.util.find_library is real, ffi.pango.pango_version() > 0,\n"
             "                  bool(wp.HTML(string='<p>x</p>').render().pages)]))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True,
                         timeout=120).stdout
    assert json.loads(out.splitlines()[-1]) == [True, True, True]


def test_ld_library_path_keeps_the_real_lookup():
    env = {**os.environ, "PYTHONPATH": ROOT, "LD_LIBRARY_PATH": "/nonexistent"}
    probe = ("from auditor.speed import native_libs\n"
             "native_libs.ldconfig_sonames = lambda: (_ for _ in ()).throw(AssertionError('cache read'))\n"
             "native_libs.import_weasyprint(); print('ok')\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True,
                         timeout=120).stdout
    assert out.strip().endswith("ok")
