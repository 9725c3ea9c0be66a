"""Inspecting a running Python service from outside: its loop, mechanism, descriptors, limits."""
