"""Stage 5, results: the results document (published JSON Schema) and the diff of two of them."""

from auditor.results.document import build_results, load_results, validate_results

__all__ = ["build_results", "load_results", "validate_results"]
