{{ config(materialized='view', tags=['usage']) }}
-- The models whose responses have no cost (not in the price table, no cost recorded by
-- the agent): add them under usage: prices: in profiles.yml.
{{ usage_unpriced(ref('usage_entries')) }}
