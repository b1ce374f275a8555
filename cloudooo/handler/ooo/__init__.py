"""ooo handler."""
