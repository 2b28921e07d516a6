{{ config(materialized='incremental', unique_key='trace_key', tags=['llm', 'distill']) }}
{#- Step 1 of the distillation: a structured digest of each trace, from its metadata, its
    first and last four messages and its final answer. Incremental on trace_key: a run
    only calls the LLM for new traces, for rows whose call failed, and for rows built with
    another prompt, schema or model (their llm_fingerprint differs). -#}
{%- set fp = fingerprint(prompt_file('trace_digest'), prompt_file('trace_digest_system'), digest_schema(), llm_model_settings(var('llm_model', 'distill'))) %}
select
    t.trace_key,
    t.trace_id,
    t.source_kind,
    llm_struct(
        {{ prompt_file('trace_digest') }},
        {{ digest_schema() }},
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
    ) as trace_digest,
    '{{ fp }}' as llm_fingerprint
from {{ ref('traces') }} as t
{% if is_incremental() %}
where t.trace_key not in (
    select trace_key from {{ this }} where llm_fingerprint = '{{ fp }}' and trace_digest is not null
)
{% endif %}
