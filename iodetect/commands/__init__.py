"""The CLI commands, one module each; each has register(app). Heavy imports stay inside commands."""
