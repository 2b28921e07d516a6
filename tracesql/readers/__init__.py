"""Trace readers: one subpackage per agent format, all producing the normalized row.

The formats are listed in `registry.FORMATS`; `sql.register` makes them DuckDB table
functions.
"""
