"""The operations: registry, sharing, verify, check, ci, remotes, remote registries,
compare. They return values and events and never print."""
