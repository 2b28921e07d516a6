{{ config(materialized='view', tags=['usage']) }}
-- Tokens and cost per session (sub-agents count in their parent session) and model.
{{ usage_sessions(ref('usage_entries')) }}
