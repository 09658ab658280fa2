"""Figures and HTML pages: the cohort page now, the pipeline summary later (sections compose)."""
