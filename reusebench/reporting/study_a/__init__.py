"""Study A's tables (Table 5, Eq. 11, per data set) and figures (Fig. 4-6)."""
