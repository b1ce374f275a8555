"""pdf handler."""
