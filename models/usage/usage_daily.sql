{{ config(materialized='view', tags=['usage']) }}
-- Tokens and cost per day, agent format, project and model (ccusage's `daily`).
{{ usage_daily(ref('usage_entries')) }}
