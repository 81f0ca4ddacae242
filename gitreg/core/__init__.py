"""Pure values and rules: names, events, records and their schema, config, layout, policy.

Nothing here prints, reads a file or runs a process; it imports only ``gitreg.errors``.
"""
