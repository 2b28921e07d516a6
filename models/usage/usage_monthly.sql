{{ config(materialized='view', tags=['usage']) }}
-- Tokens and cost per month (YYYY-MM), agent format, project and model.
{{ usage_monthly(ref('usage_entries')) }}
