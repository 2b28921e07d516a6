{{ config(materialized='incremental', unique_key='trace_key', tags=['llm', 'distill']) }}
{#- Step 1 of the distillation: a structured digest of each trace, from its metadata, its
    first and last four messages and its final answer. Incremental on trace_key: a run
    only calls the LLM for new traces, for rows whose call failed (or kept a previous
    value), and for rows built with another prompt, schema or model (their llm_fingerprint
    differs). A trace without messages keeps its row, NULL, with skip_reason 'no messages',
    and costs no call. llm_status and llm_request_hash: see macros/traces.sql. -#}
{%- set fp = fingerprint(prompt_file('trace_digest'), prompt_file('trace_digest_system'), digest_schema(), llm_model_settings(var('llm_model', 'distill'))) %}
with todo as (
    select
        t.*,
        case when coalesce(t.message_count, 0) = 0 then 'no messages' end as skip_reason
    from {{ ref('traces') }} as t
    {% if is_incremental() %}
    where t.trace_key not in (
        select trace_key from {{ this }} where llm_fingerprint = '{{ fp }}' and llm_status = 'ok'
    )
    {% endif %}
),
answered as (
    select
        t.trace_key,
        t.trace_id,
        t.source_kind,
        t.skip_reason,
        llm_response(
            case when t.skip_reason is null then {{ prompt_file('trace_digest') }} end,
            schema := {{ digest_schema() }},
            model := {{ var_literal('llm_model', 'distill', type='string') }},
            system := {{ prompt_file('trace_digest_system') }},
            vars := {
                'trace_id': t.trace_id,
                'source_kind': t.source_kind,
                'root_session_id': t.root_session_id,
                'agent_id': t.agent_id,
                'is_sidechain': t.is_sidechain,
                'project_path': t.project_path,
                'cwd': t.cwd,
                'git_branch': t.git_branch,
                'message_count': t.message_count,
                'tool_call_count': t.tool_call_count,
                'source_meta': {{ prompt_text('t.source_meta::varchar') }},
                'first_messages': {{ prompt_messages('t.messages[1:4]') }},
                'last_messages': {{ prompt_messages('t.messages[greatest(len(t.messages) - 3, 5):]') }},
                'final_assistant_message': {{ prompt_text('t.final_assistant_message', '2 * ' ~ var_literal('max_prompt_chars', 2000, type='int')) }}
            }
        ) as r
    from todo as t
)
select
    trace_key,
    trace_id,
    source_kind,
    r.value as trace_digest,
    {{ llm_status('r', 'skip_reason') }} as llm_status,
    skip_reason,
    r.request_hash as llm_request_hash,
    '{{ fp }}' as llm_fingerprint
from answered
