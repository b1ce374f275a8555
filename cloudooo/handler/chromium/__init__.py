"""Headless Chromium: HTML -> PDF with page layout."""
