"""ffmpeg handler."""
