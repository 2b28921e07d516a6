{#- Usage and cost analytics over every agent's traces (docs/usage.md): tracesql's built-in
    macros, available in every project (a project macro of the same name replaces one) and
    run as they are by `tracesql usage`. Each takes the relation it reads from:

      usage_entries(traces)   one row per API response (a trace's `usage` entries), each
                              counted once across files, priced; `traces` has the trace
                              row's columns (source_kind, root_session_id, trace_id,
                              project_path, source_path, usage)
      usage_daily(entries)    per day (in the usage time zone), format, project, model
      usage_monthly(entries)  per month, format, project, model
      usage_sessions(entries) per session (sub-agents in their parent's), project, model
      usage_blocks(entries)   per 5-hour block (from the first response of a block, by
                              format, as Claude's limits count them), project, model
      usage_unpriced(entries) the models whose responses have no cost, with their tokens

    Prices come from `usage_prices()` (the bundled table and profiles.yml's `usage.prices`),
    the time zone from `usage_timezone()` (profiles.yml's `usage.timezone`, else the
    machine's). -#}

{#- A model name as prices know it: lower case, without provider prefix (`openai/`) or
    Bedrock prefix and version (`anthropic.`, `-v1:0`), dots as dashes (claude-opus-4.5 is
    claude-opus-4-5). -#}
{% macro usage_model_name(model) -%}
replace(regexp_replace(regexp_replace(regexp_replace(lower({{ model }}), '^.*/', ''), '^([a-z]+[.])?anthropic[.]', ''), '-v[0-9]+(:[0-9]+)?$', ''), '.', '-')
{%- endmacro %}

{#- ...and without its date (`-20250929`, `-2025-04-16`, `@20250929`): the key prices are
    matched on (a price for the dated name itself wins over the undated one). -#}
{% macro usage_model_key(model) -%}
regexp_replace({{ usage_model_name(model) }}, '[-@]20[0-9][0-9]-?[0-9][0-9]-?[0-9][0-9]$', '')
{%- endmacro %}

{#- The price table as a relation named `alias`: one row per model and date, USD per million
    tokens. -#}
{% macro usage_price_table(alias='usage_prices') -%}
(values
{%- for p in usage_prices() %}
    ({{ usage_literal(p.model) }}, {{ usage_literal(p.valid_from, 'date') }}, {{ usage_literal(p.input, 'double') }}, {{ usage_literal(p.output, 'double') }}, {{ usage_literal(p.cache_write, 'double') }}, {{ usage_literal(p.cache_read, 'double') }}, {{ usage_literal(p.long_context_above, 'bigint') }}, {{ usage_literal(p.long_context_input, 'double') }}, {{ usage_literal(p.long_context_output, 'double') }}, {{ usage_literal(p.long_context_cache_write, 'double') }}, {{ usage_literal(p.long_context_cache_read, 'double') }}, {{ p.priority }}, {{ usage_literal(p.source) }}){{ "," if not loop.last }}
{%- endfor %}
) as {{ alias }}(model, valid_from, input, output, cache_write, cache_read, long_context_above, long_context_input, long_context_output, long_context_cache_write, long_context_cache_read, priority, source)
{%- endmacro %}

{% macro usage_literal(value, type='varchar') -%}
{%- if value is none -%}cast(null as {{ type }})
{%- elif type == 'varchar' -%}{{ literal(value | string) }}
{%- elif type == 'date' -%}cast('{{ value }}' as date)
{%- else -%}cast({{ value }} as {{ type }})
{%- endif -%}
{%- endmacro %}

{#- An instant as the wall-clock time of the usage time zone. -#}
{% macro usage_local(instant) -%}
({{ instant }} at time zone {{ literal(usage_timezone()) }})
{%- endmacro %}

{#- tokens x the applicable price (the long-context one when the request is over its
    threshold), 0 without tokens, NULL when the price is unknown. -#}
{% macro usage_term(tokens, price) -%}
case when coalesce({{ tokens }}, 0) = 0 then 0.0
     else {{ tokens }} * case when long_context then coalesce(long_context_{{ price }}, {{ price }}) else {{ price }} end end
{%- endmacro %}

{% macro usage_entries(traces) -%}
with unnested as (
    select source_kind, root_session_id, trace_id, project_path, source_path, unnest(usage) as u
    from {{ traces }}
),
copies as (
    select
        source_kind,
        root_session_id as session_id,
        trace_id,
        project_path,
        source_path,
        u.id as usage_id,
        u.timestamp as timestamp,
        u.model as model,
        u.input_tokens as input_tokens,
        u.output_tokens as output_tokens,
        u.cache_read_tokens as cache_read_tokens,
        u.cache_write_tokens as cache_write_tokens,
        u.reasoning_tokens as reasoning_tokens,
        u.cost_usd as recorded_cost_usd,
        count(*) over (partition by u.id) as copies,
        row_number() over (
            partition by u.id order by u.output_tokens desc nulls last, source_path, trace_id
        ) as copy_rank
    from unnested
),
prices as (
    select p.*, {{ usage_model_key('p.model') }} as model_key, {{ usage_model_name('p.model') }} as model_name
    from {{ usage_price_table('p') }}
),
matched as (
    select
        c.*,
        p.model as price_model,
        p.input,
        p.output,
        p.cache_write,
        p.cache_read,
        p.long_context_input,
        p.long_context_output,
        p.long_context_cache_write,
        p.long_context_cache_read,
        coalesce(
            p.long_context_above is not null
            and coalesce(c.input_tokens, 0) + coalesce(c.cache_read_tokens, 0) + coalesce(c.cache_write_tokens, 0)
                > p.long_context_above,
            false
        ) as long_context,
        row_number() over (
            partition by c.usage_id
            order by p.priority desc, case when p.model_name = {{ usage_model_name('c.model') }} then 1 else 0 end desc,
                p.valid_from desc nulls last
        ) as price_rank
    from copies as c
    left join prices as p
        on p.model_key = {{ usage_model_key('c.model') }}
        and (p.valid_from is null or p.valid_from <= cast(c.timestamp at time zone 'UTC' as date))
    where c.copy_rank = 1
),
priced as (
    select
        *,
        coalesce(input_tokens, 0) + coalesce(output_tokens, 0) + coalesce(cache_read_tokens, 0)
            + coalesce(cache_write_tokens, 0) as total_tokens,
        case when price_model is not null then (
            {{ usage_term('input_tokens', 'input') }}
            + {{ usage_term('output_tokens', 'output') }}
            + {{ usage_term('cache_read_tokens', 'cache_read') }}
            + {{ usage_term('cache_write_tokens', 'cache_write') }}
        ) / 1000000.0 end as price_cost_usd
    from matched
    where price_rank = 1
)
select
    source_kind,
    session_id,
    trace_id,
    project_path,
    source_path,
    usage_id,
    timestamp,
    cast({{ usage_local('timestamp') }} as date) as day,
    model,
    price_model,
    input_tokens,
    output_tokens,
    cache_read_tokens,
    cache_write_tokens,
    reasoning_tokens,
    total_tokens,
    case
        when total_tokens = 0 then 0.0
        when price_cost_usd is not null then price_cost_usd
        else recorded_cost_usd
    end as cost_usd,
    case
        when total_tokens = 0 then 'no tokens'
        when price_cost_usd is not null then 'price table'
        when recorded_cost_usd is not null then 'recorded by the agent'
    end as cost_source,
    recorded_cost_usd,
    long_context,
    copies
from priced
{%- endmacro %}

{#- The sums every report has; cost_usd is NULL when any response of the group has none, and
    rounded to 1e-10 USD: a sum of doubles depends on the order it is taken in, which
    varies between runs and engines. -#}
{% macro usage_sums() -%}
count(*) as responses,
    cast(sum(input_tokens) as bigint) as input_tokens,
    cast(sum(output_tokens) as bigint) as output_tokens,
    cast(sum(cache_read_tokens) as bigint) as cache_read_tokens,
    cast(sum(cache_write_tokens) as bigint) as cache_write_tokens,
    cast(sum(reasoning_tokens) as bigint) as reasoning_tokens,
    cast(sum(total_tokens) as bigint) as total_tokens,
    case when count(*) = count(cost_usd) then round(sum(cost_usd), 10) end as cost_usd
{%- endmacro %}

{% macro usage_daily(entries) -%}
select
    day,
    source_kind,
    project_path,
    model,
    {{ usage_sums() }}
from {{ entries }}
group by day, source_kind, project_path, model
{%- endmacro %}

{% macro usage_monthly(entries) -%}
select
    strftime(day, '%Y-%m') as month,
    source_kind,
    project_path,
    model,
    {{ usage_sums() }}
from {{ entries }}
group by strftime(day, '%Y-%m'), source_kind, project_path, model
{%- endmacro %}

{% macro usage_sessions(entries) -%}
select
    source_kind,
    session_id,
    project_path,
    model,
    min(timestamp) as first_at,
    max(timestamp) as last_at,
    count(distinct trace_id) as traces,
    {{ usage_sums() }}
from {{ entries }}
group by source_kind, session_id, project_path, model
{%- endmacro %}

{#- 5-hour blocks, per agent format: a block starts at the first response after the
    previous block ended (a response exactly 5 hours after a block's start starts the next
    one). A gap of 5 hours or more always starts a block, so blocks are found island by
    island (runs without such a gap): each island's first response starts one, and each
    block's successor is the first response at or after its end. -#}
{% macro usage_blocks(entries, hours=5) -%}
with recursive times as (
    select distinct source_kind, timestamp as moment from {{ entries }} where timestamp is not null
),
gaps as (
    select
        source_kind,
        moment,
        case
            when lag(moment) over (partition by source_kind order by moment) is null then 1
            when moment >= lag(moment) over (partition by source_kind order by moment) + interval {{ hours }} hour then 1
            else 0
        end as starts_island
    from times
),
islands as (
    select
        source_kind,
        moment,
        sum(starts_island) over (
            partition by source_kind order by moment rows between unbounded preceding and current row
        ) as island
    from gaps
),
probes as (
    select source_kind, island, moment, moment as probe_of, 1 as kind from islands
    union all
    select source_kind, island, moment + interval {{ hours }} hour as moment, moment as probe_of, 0 as kind from islands
),
successors as (
    select source_kind, island, probe_of as moment, next_start
    from (
        select
            source_kind,
            island,
            probe_of,
            kind,
            min(case when kind = 1 then moment end) over (
                partition by source_kind, island order by moment, kind
                rows between current row and unbounded following
            ) as next_start
        from probes
    ) as p
    where kind = 0
),
starts as (
    select source_kind, island, min(moment) as block_start from islands group by source_kind, island
    union all
    select s.source_kind, s.island, n.next_start as block_start
    from starts as s
    join successors as n on n.source_kind = s.source_kind and n.island = s.island and n.moment = s.block_start
    where n.next_start is not null
),
placed as (
    select
        e.*,
        b.block_start,
        b.block_start + interval {{ hours }} hour as block_end
    from {{ entries }} as e
    join islands as i on i.source_kind = e.source_kind and i.moment = e.timestamp
    join starts as b
        on b.source_kind = e.source_kind
        and b.island = i.island
        and e.timestamp >= b.block_start
        and e.timestamp < b.block_start + interval {{ hours }} hour
),
activity as (
    select source_kind, block_start, max(timestamp) as last_activity
    from placed
    group by source_kind, block_start
)
select
    p.source_kind,
    p.block_start,
    p.block_end,
    a.last_activity,
    p.block_end > now() as is_active,
    p.project_path,
    p.model,
    {{ usage_sums() }}
from placed as p
join activity as a on a.source_kind = p.source_kind and a.block_start = p.block_start
group by p.source_kind, p.block_start, p.block_end, a.last_activity, p.project_path, p.model
{%- endmacro %}

{% macro usage_unpriced(entries) -%}
select
    model,
    source_kind,
    min(timestamp) as first_at,
    max(timestamp) as last_at,
    {{ usage_sums() }}
from {{ entries }}
where cost_usd is null
group by model, source_kind
{%- endmacro %}
