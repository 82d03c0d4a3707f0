"""The HTML report: one self-contained file (inline CSS, SVG charts and a small filter script).

The page makes no request of its own: a Content-Security-Policy allows no source at all except
its inline style and the one inline script (by hash), so even a value that slipped past escaping
could neither run nor fetch anything. Every value from the results document is escaped by Jinja2.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import os
from typing import Any

TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
ASSETS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "assets")


def read_asset(name: str) -> str:
    """One of our own template assets (CSS, script) as text."""
    with open(os.path.join(TEMPLATES, name), encoding="utf-8") as fh:
        return fh.read()


@functools.lru_cache(maxsize=1)
def _bytecode_cache():  # type: ignore[no-untyped-def]
    """Compiled templates kept between runs: compiling the report template takes about 0.15 s
    of every run that writes a report (twice in a default run: the HTML here, the PDF in its
    helper), loading it from the cache a few milliseconds. Jinja2's cache in the temporary
    folder: a folder of this user's alone (mode 0700, its owner checked by Jinja2), entries
    keyed by the template's source, so an edited template is compiled again. None (no cache)
    where that folder cannot be made safely."""
    import jinja2

    class Cache(jinja2.FileSystemBytecodeCache):
        """A cache that cannot fail a report: an entry it cannot read or write (a full disk, a
        folder made read-only) is compiled again, as without a cache."""

        def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            try:
                super().load_bytecode(bucket)
            except OSError:
                bucket.reset()

        def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            try:
                super().dump_bytecode(bucket)
            except OSError:
                pass

    try:
        return Cache()
    except (OSError, RuntimeError):
        return None


@functools.lru_cache(maxsize=2)
def report_environment(pdf: bool):  # type: ignore[no-untyped-def]
    """The Jinja2 environment of the report template (autoescape on for every template)."""
    import jinja2

    from auditor.report import formatting as ctx

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.ChainableUndefined, trim_blocks=False, lstrip_blocks=False,
                             finalize=ctx.printable, bytecode_cache=_bytecode_cache())
    limit = ctx.PRINT_VALUE_CHARS if pdf else None
    env.filters.update({
        "pct": ctx.fmt_pct, "clip": lambda v, n: ctx.clip(str(v), n), "token": ctx.filter_token,
        "text": ctx.as_text, "short_status": lambda label: "N/A" if label == "Not applicable" else label,
        "vclip": (lambda v: ctx.clip(str(v), limit)) if limit else (lambda v: v),
    })
    return env


def render_report_markup(results: dict[str, Any], *, pdf: bool, results_bytes: bytes | None = None,
                         results_name: str = "results.json", subjects_limit: int | None = None,
                         results_sha256: str | None = None) -> str:
    """The report template filled for the browser (pdf=False) or for WeasyPrint (pdf=True).

    ``subjects_limit``: failing subjects listed per control (default: auditor.report.subjects_view).
    ``results_sha256``: see auditor.report.context.build_context.
    """
    from auditor.report.context import build_context

    return fill_report_template(build_context(results, results_bytes, results_name, pdf=pdf,
                                              subjects_limit=subjects_limit, results_sha256=results_sha256), pdf)


def fill_report_template(context: dict[str, Any], pdf: bool) -> str:
    """The report template filled with a context of auditor.report.context.build_context."""
    import markupsafe

    css = read_asset("report.css") + ("\n" + read_asset("print.css") if pdf else "")
    script = "" if pdf else read_asset("filter.js")
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    template = report_environment(pdf).get_template("report.html.j2")
    # CSS and script are our own files, inserted as they are; everything else is escaped.
    return template.render(**context, pdf=pdf, css=markupsafe.Markup(css), script=markupsafe.Markup(script),
                           script_hash=f"sha256-{digest}")


def render_html(results: dict[str, Any], *, results_bytes: bytes | None = None,
                results_name: str = "results.json", subjects_limit: int | None = None,
                results_sha256: str | None = None) -> str:
    """The HTML report of a results document, as one self-contained page (``subjects_limit``
    failing subjects listed per control, 50 by default)."""
    return render_report_markup(results, pdf=False, results_bytes=results_bytes, results_name=results_name,
                                subjects_limit=subjects_limit, results_sha256=results_sha256)


def render_diff_markup(diff: dict[str, Any], *, pdf: bool, diff_bytes: bytes | None = None,
                       names: tuple[str, str] = ("OLD", "NEW"), diff_name: str = "diff.json") -> str:
    """The diff report template filled for the browser (pdf=False) or for WeasyPrint (pdf=True).

    ``names`` are the two results files compared, as the user named them (shown, never opened).
    """
    import markupsafe

    from auditor.report.changes_view import diff_context, serialize_diff

    data = diff_bytes if diff_bytes is not None else serialize_diff(diff)
    context = diff_context(diff, data, pdf, names, diff_name)
    css = read_asset("report.css") + ("\n" + read_asset("print.css") if pdf else "")
    template = report_environment(pdf).get_template("diff.html.j2")
    return template.render(**context, pdf=pdf, css=markupsafe.Markup(css))


def render_diff_html(diff: dict[str, Any], *, diff_bytes: bytes | None = None,
                     names: tuple[str, str] = ("OLD", "NEW"), diff_name: str = "diff.json") -> str:
    """The HTML report of a diff document (auditor.results.diff.diff_results), as one self-contained page."""
    return render_diff_markup(diff, pdf=False, diff_bytes=diff_bytes, names=names, diff_name=diff_name)
