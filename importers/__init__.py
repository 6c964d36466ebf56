"""Bulk imports of carriers' allocation records (CSV, Excel, RPSL, RIR statistics)."""
