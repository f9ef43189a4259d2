"""Reading, validating and atomically writing NIfTI, BIDS, manifests and indexes."""
