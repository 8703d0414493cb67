"""Adaptive Cards as pure functions: domain objects in, a typed card out. No I/O, no bot SDK."""
