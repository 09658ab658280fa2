"""Figures and HTML pages: the cohort page (``cohort``) and the one-page report of every stage's tables and
figures (``index``), built from sections (``html``)."""
