"""Fixtures of the targets tests; the helpers live in targetkit.py (a unique name: `from conftest import` collides across folders)."""

from targetkit import *  # noqa: F401,F403
