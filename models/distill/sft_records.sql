{{ config(materialized='incremental', unique_key='trace_key', tags=['llm', 'distill']) }}
{#- Step 2: one standalone instruction/response pair per digest, grounded in the digest only. -#}
{%- set fp = fingerprint(prompt_file('sft_record'), prompt_file('sft_record_system'), sft_record_schema(), llm_model_settings(var('llm_model', 'distill'))) %}
select
    d.trace_key,
    d.trace_id,
    llm_struct(
        {{ prompt_file('sft_record') }},
        {{ sft_record_schema() }},
        model := {{ var_literal('llm_model', 'distill', type='string') }},
        system := {{ prompt_file('sft_record_system') }},
        vars := {'digest': d.trace_digest}
    ) as sft_record,
    md5('{{ fp }}' || d.llm_fingerprint) as llm_fingerprint
from {{ ref('trace_digests') }} as d
where d.trace_digest is not null
{% if is_incremental() %}
    and (d.trace_key, md5('{{ fp }}' || d.llm_fingerprint)) not in (
        select (trace_key, llm_fingerprint) from {{ this }} where sft_record is not null
    )
{% endif %}
