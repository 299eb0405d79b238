"""syncmap's compiler: parse, check and lower mappings. Pure: no network, clock or environment."""
