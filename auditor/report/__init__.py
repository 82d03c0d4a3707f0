"""Renderers: pure functions of a results document."""
