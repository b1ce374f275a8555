"""imagemagick handler."""
