"""cloudooo: an XML-RPC document conversion server."""
