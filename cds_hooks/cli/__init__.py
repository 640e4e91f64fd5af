"""The command line, one module per command group; `main` dispatches, `common` is shared."""
