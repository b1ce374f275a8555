"""For users of the old layout (``python setup.py develop``, ``pip install
.`` with an old pip): everything is declared in pyproject.toml."""

from setuptools import setup

setup()
