"""Text dataset readers (local files only, no downloads)."""
