"""Handlers: one per family of tools.  See ``base.Handler`` for the contract."""
