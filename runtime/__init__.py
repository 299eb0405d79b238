"""syncmap's runtime: executes compiled plans against the APIs, and the command line."""
