"""Command-line entry points (``python -m polyresearch <command>``)."""
