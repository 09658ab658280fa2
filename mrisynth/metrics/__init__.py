"""Metrics: image similarity (image), sample quality from features (distribution), binary classification
with bootstrap statistics (classification) and paired tests (stats). Pure functions of arrays; nothing
here imports the medical stages."""
