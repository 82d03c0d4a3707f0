"""Collectors: the only code that touches the audited system, and only to read."""
