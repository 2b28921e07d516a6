{{ config(materialized='view', tags=['usage']) }}
-- One row per API response of every trace (each counted once, however many files copied
-- it), with its day in the usage time zone, its price and cost. The SQL is tracesql's
-- built-in usage_entries macro (tracesql/compile/macros/usage.sql; docs/usage.md), the
-- same `tracesql usage` runs without a project.
{{ usage_entries(ref('traces')) }}
