"""Fixtures of the store tests; the helpers live in storekit.py (a unique name: `from conftest import` collides across folders)."""

from storekit import *  # noqa: F401,F403
