"""The auditor's version, recorded in every evidence bundle, results document and report."""

__version__ = "0.1.0"  # keep equal to pyproject.toml's version
