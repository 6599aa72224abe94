"""Helpers shared by test modules of several folders (fixtures stay in conftest.py files)."""
