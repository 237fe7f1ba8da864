"""The `kindlike` command: one module per verb, all thin over the library."""
