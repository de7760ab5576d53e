"""Developer tools: the demo launcher."""
