{{ config(materialized='incremental', unique_key='trace_key', tags=['llm', 'distill']) }}
{#- Step 2: one standalone instruction/response pair per digest, grounded in the digest only.
    A trace without a digest keeps its row, NULL, with its skip_reason and no call. -#}
{%- set fp = fingerprint(prompt_file('sft_record'), prompt_file('sft_record_system'), sft_record_schema(), llm_model_settings(var('llm_model', 'distill'))) %}
with todo as (
    select
        d.trace_key,
        d.trace_id,
        d.trace_digest,
        md5('{{ fp }}' || d.llm_fingerprint) as llm_fingerprint,
        case
            when d.skip_reason is not null then d.skip_reason
            when d.trace_digest is null then 'no digest'
        end as skip_reason
    from {{ ref('trace_digests') }} as d
    {% if is_incremental() %}
    where (d.trace_key, md5('{{ fp }}' || d.llm_fingerprint)) not in (
        select (trace_key, llm_fingerprint) from {{ this }} where llm_status = 'ok'
    )
    {% endif %}
),
answered as (
    select
        d.*,
        llm_response(
            case when d.skip_reason is null then {{ prompt_file('sft_record') }} end,
            schema := {{ sft_record_schema() }},
            model := {{ var_literal('llm_model', 'distill', type='string') }},
            system := {{ prompt_file('sft_record_system') }},
            vars := {'digest': d.trace_digest}
        ) as r
    from todo as d
)
select
    trace_key,
    trace_id,
    r.value as sft_record,
    {{ llm_status('r', 'skip_reason') }} as llm_status,
    skip_reason,
    r.request_hash as llm_request_hash,
    llm_fingerprint
from answered
