{{ config(materialized='incremental', unique_key='trace_key', tags=['llm', 'reviews']) }}
{#- One random message per trace, summarized in one sentence. The pick is seeded by the
    trace (and the turn_seed var), so a re-run picks the same turn and hits the cache, on
    DuckDB and Spark alike (hash_number is the same on both). A
    trace without messages keeps its row, NULL, with skip_reason 'no messages'. -#}
{%- set fp = fingerprint(prompt_file('turn_summary'), var('turn_seed', 0), 'md5 pick', llm_model_settings(var('llm_model', 'distill'))) %}
with picked as (
    select
        trace_key,
        trace_id,
        source_kind,
        message_count,
        case
            when len(messages) > 0
            then 1 + ({{ hash_number("trace_key || cast(" ~ var_literal('turn_seed', 0) ~ " as varchar)") }} % len(messages))::integer
        end as turn_index,
        case when len(messages) = 0 then 'no messages' end as skip_reason,
        messages
    from {{ ref('traces') }}
    {% if is_incremental() %}
    where trace_key not in (select trace_key from {{ this }} where llm_fingerprint = '{{ fp }}' and llm_status = 'ok')
    {% endif %}
),
answered as (
    select
        trace_key,
        trace_id,
        turn_index,
        messages[turn_index].role as turn_role,
        skip_reason,
        llm_response(
            case when skip_reason is null then {{ prompt_file('turn_summary') }} end,
            model := {{ var_literal('llm_model', 'distill', type='string') }},
            vars := {
                'role': messages[turn_index].role,
                'source_kind': source_kind,
                'turn_index': turn_index,
                'message_count': message_count,
                'text': {{ prompt_text('message_text(messages[turn_index])') }}
            }
        ) as r
    from picked
)
select
    trace_key,
    trace_id,
    turn_index,
    turn_role,
    r.value as turn_summary,
    {{ llm_status('r', 'skip_reason') }} as llm_status,
    skip_reason,
    r.request_hash as llm_request_hash,
    '{{ fp }}' as llm_fingerprint
from answered
