{{ config(materialized='view', tags=['usage']) }}
-- Tokens and cost per 5-hour block, as Claude's usage limits count them (a block starts at
-- the first response after the previous one ended), per agent format, project and model;
-- is_active marks the block still open.
{{ usage_blocks(ref('usage_entries')) }}
