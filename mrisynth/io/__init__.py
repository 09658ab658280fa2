"""Input/output: manifests, NIfTI files, atomic writes, BIDS-style names, bundled templates."""
