"""Standard transformers on the package's task (issue 12)."""
