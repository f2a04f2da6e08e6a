"""Study B's tables (Tables 1-4, 7, OpScore) and figures (bubble charts, Fig. 3-8)."""
