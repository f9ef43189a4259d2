"""Report sections shared by several pages."""
