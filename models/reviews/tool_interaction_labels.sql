{{ config(materialized='incremental', unique_key='interaction_key', tags=['llm', 'reviews']) }}
{#- Each tool interaction labelled by an LLM: outcome (success, failure, unclear) and a summary. -#}
{%- set fp = fingerprint(prompt_file('tool_interaction'), tool_label_schema(), llm_model_settings(var('llm_model', 'distill'))) %}
with answered as (
    select
        i.interaction_key,
        i.trace_key,
        i.tool_name,
        llm_response(
            {{ prompt_file('tool_interaction') }},
            schema := {{ tool_label_schema() }},
            model := {{ var_literal('llm_model', 'distill', type='string') }},
            vars := {
                'context': {{ prompt_messages('t.messages[greatest(i.response_index - 4, 1):i.response_index - 1]') }},
                'tool_name': i.tool_name,
                'arguments': {{ prompt_text('i.tool_arguments') }},
                'response': {{ prompt_text('i.tool_response') }},
                'is_error': i.is_error
            }
        ) as r
    from {{ ref('tool_interactions') }} as i
    join {{ ref('traces') }} as t using (trace_key)
    {% if is_incremental() %}
    where i.interaction_key not in (
        select interaction_key from {{ this }} where llm_fingerprint = '{{ fp }}' and llm_status = 'ok'
    )
    {% endif %}
)
select
    interaction_key,
    trace_key,
    tool_name,
    r.value as label,
    {{ llm_status('r', 'NULL') }} as llm_status,
    NULL::varchar as skip_reason,
    r.request_hash as llm_request_hash,
    '{{ fp }}' as llm_fingerprint
from answered
