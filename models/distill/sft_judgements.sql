{{ config(materialized='incremental', unique_key='trace_key', tags=['llm', 'distill']) }}
{#- Step 3: an LLM judge scores each pair 0..4 on five criteria, with a reasoning per score.
    A trace without an SFT pair keeps its row, NULL, with its skip_reason and no call. -#}
{%- set scores = [
    {'name': 'groundedness', 'description': 'Is the example grounded in the digest?',
     'options': {4: 'Fully grounded in the digest.', 3: 'Grounded, with a minor unsupported detail.', 2: 'Partly grounded.', 1: 'Mostly unsupported by the digest.', 0: 'Unrelated to the digest.'}},
    {'name': 'standalone_task', 'description': 'Can the instruction be understood without the trace?',
     'options': {4: 'Completely standalone.', 3: 'Standalone, with a small gap.', 2: 'Needs some context from the trace.', 1: 'Hard to follow without the trace.', 0: 'Meaningless without the trace.'}},
    {'name': 'response_quality', 'description': 'Is the response helpful, specific and on-task?',
     'options': {4: 'An excellent, specific answer.', 3: 'A good answer with minor issues.', 2: 'A mixed answer.', 1: 'A mostly poor answer.', 0: 'Unhelpful or wrong.'}},
    {'name': 'faithfulness', 'description': 'Does the example avoid details the digest does not support?',
     'options': {4: 'No invented details.', 3: 'One minor invented detail.', 2: 'Several invented details.', 1: 'Mostly invented.', 0: 'Largely fabricated.'}},
    {'name': 'training_utility', 'description': 'Is the example worth keeping for fine-tuning?',
     'options': {4: 'Definitely keep.', 3: 'Probably keep.', 2: 'Borderline.', 1: 'Probably discard.', 0: 'Discard.'}},
] -%}
{%- set fp = fingerprint(prompt_file('sft_judge'), scores, llm_model_settings(var('llm_model', 'distill'))) %}
with todo as (
    select
        r.trace_key,
        r.trace_id,
        r.sft_record,
        d.trace_digest,
        md5('{{ fp }}' || r.llm_fingerprint) as llm_fingerprint,
        case
            when r.skip_reason is not null then r.skip_reason
            when r.sft_record is null then 'no SFT pair'
        end as skip_reason
    from {{ ref('sft_records') }} as r
    join {{ ref('trace_digests') }} as d using (trace_key)
    {% if is_incremental() %}
    where (r.trace_key, md5('{{ fp }}' || r.llm_fingerprint)) not in (
        select (trace_key, llm_fingerprint) from {{ this }} where llm_status = 'ok'
    )
    {% endif %}
),
answered as (
    select
        t.*,
        {{ llm_judge(
            scores=scores,
            prompt="case when t.skip_reason is null then " ~ prompt_file('sft_judge') ~ " end",
            model=var('llm_model', 'distill'),
            vars="{'digest': t.trace_digest, 'instruction': t.sft_record.instruction, 'response': t.sft_record.response}",
            response=True
        ) }} as r
    from todo as t
)
select
    trace_key,
    trace_id,
    r.value as judgement,
    {{ llm_status('r', 'skip_reason') }} as llm_status,
    skip_reason,
    r.request_hash as llm_request_hash,
    llm_fingerprint
from answered
