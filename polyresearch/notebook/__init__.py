"""Notebook layer: background runner, live charts and controls that read state.

Empty until the "Notebook layer" issue lands; the package exists now so that the import-linter
layer contract covers it from the start.
"""
