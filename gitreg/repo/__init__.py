"""A registry's repository: its YAML files in and out, safe paths, caches, history,
transactions and their journal, publishing with replay, and the signing gate."""
