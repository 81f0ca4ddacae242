"""The git executable, raising by default: plumbing reads in bulk, commits, signatures,
fetch and push. Imports only ``gitreg.errors`` and ``gitreg.faults``."""
