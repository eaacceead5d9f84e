"""Model repositories: their configs (read, digest, variants) and model files."""
