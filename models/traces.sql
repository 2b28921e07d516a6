{{ config(materialized='incremental', incremental_strategy='by_file', tags=['traces']) }}
-- Every trace the trace_* vars select, one normalized row each (see README, "The normalized row").
-- Incremental by file: a re-run reads only new or changed files and replaces their rows.
select * from {{ trace_source() }}
