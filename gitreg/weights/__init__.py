"""Model weights: the DVC cache and ``.dvc`` pointers, storage backends, hashes,
serialization of model objects, and DVC's config (read and written).

DVC itself is imported only by the functions that need it, so read commands start fast.
"""
