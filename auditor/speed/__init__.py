"""Speed mechanisms, one small module each, so the logic elsewhere reads plainly.

- :mod:`auditor.speed.second_core`: a forked child does half of a large job on the second core.
- :mod:`auditor.speed.gc_pause`: the cyclic garbage collector paused while large acyclic data is built.
- :mod:`auditor.speed.prestart`: a helper forked at the start of a run imports WeasyPrint, then lays out the PDF.
- :mod:`auditor.speed.native_libs`: WeasyPrint's library look-ups answered from the linker cache (no compiler runs).
- :mod:`auditor.packs.cache` (kept beside the pack loader it serves): built-in packs shipped pre-parsed.

Each module says in its docstring what it buys and which benchmark (tests/perf/) shows it; none
changes a result: each falls back to the plain way when it cannot help.
"""
