{{ config(materialized='incremental', unique_key='trace_key', tags=['llm', 'reviews']) }}
{#- One random message per trace, summarized in one sentence. The pick is seeded by the
    trace (and the turn_seed var), so a re-run picks the same turn and hits the cache. -#}
{%- set fp = fingerprint(prompt_file('turn_summary'), var('turn_seed', 0), llm_model_settings(var('llm_model', 'distill'))) %}
with picked as (
    select
        trace_key,
        trace_id,
        source_kind,
        message_count,
        1 + (hash(trace_key || cast({{ var_literal('turn_seed', 0) }} as varchar)) % len(messages))::integer as turn_index,
        messages
    from {{ ref('traces') }}
    where len(messages) > 0
)
select
    trace_key,
    trace_id,
    turn_index,
    messages[turn_index].role as turn_role,
    llm(
        {{ prompt_file('turn_summary') }},
        model := {{ var_literal('llm_model', 'distill', type='string') }},
        vars := {
            'role': messages[turn_index].role,
            'source_kind': source_kind,
            'turn_index': turn_index,
            'message_count': message_count,
            'text': {{ prompt_text('message_text(messages[turn_index])') }}
        }
    ) as turn_summary,
    '{{ fp }}' as llm_fingerprint
from picked
{% if is_incremental() %}
where trace_key not in (select trace_key from {{ this }} where llm_fingerprint = '{{ fp }}' and turn_summary is not null)
{% endif %}
