"""Private implementation modules of jopt; import names from `jopt` itself."""
