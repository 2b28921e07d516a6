{{ config(materialized='view', tags=['usage']) }}
-- The price table the usage models use, USD per million tokens: tracesql's bundled one
-- (dated in `source`), then profiles.yml's usage: prices: (which win for their models).
select * from {{ usage_price_table() }}
