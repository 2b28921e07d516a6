{{ config(materialized='table', tags=['distill']) }}
-- The distilled dataset: one row per trace, flat columns, the keep flag and why a row is
-- not kept. A failed LLM call leaves NULLs in its row; a missing score counts 0.
-- sft_dataset.yml declares which columns are what (meta.dataset) for exports and reports.
select
    t.trace_key,
    t.trace_id,
    t.source_kind,
    t.project_path,
    r.sft_record.instruction as sft_instruction,
    r.sft_record.response as sft_response,
    r.sft_record.skill_tags as sft_skill_tags,
    r.sft_record.difficulty as sft_difficulty,
    coalesce(j.judgement.groundedness.score, 0) as groundedness_score,
    coalesce(j.judgement.standalone_task.score, 0) as standalone_task_score,
    coalesce(j.judgement.response_quality.score, 0) as response_quality_score,
    coalesce(j.judgement.faithfulness.score, 0) as faithfulness_score,
    coalesce(j.judgement.training_utility.score, 0) as training_utility_score,
    d.trace_digest.training_value as trace_training_value,
    coalesce(
        j.judgement.groundedness.score = 4
        and j.judgement.standalone_task.score = 4
        and j.judgement.response_quality.score = 4
        and j.judgement.faithfulness.score = 4
        and j.judgement.training_utility.score = 4
        and d.trace_digest.training_value = 'high',
        false
    ) as recommended_for_sft,
    case
        when d.trace_digest is null then 'no digest (' || coalesce(d.llm_status, 'not run') || ')'
        when r.sft_record is null then 'no instruction/response (' || coalesce(r.llm_status, 'not run') || ')'
        when j.judgement is null then 'not judged (' || coalesce(j.llm_status, 'not run') || ')'
        when coalesce(j.judgement.groundedness.score, 0) < 4 then 'groundedness below 4'
        when coalesce(j.judgement.standalone_task.score, 0) < 4 then 'standalone_task below 4'
        when coalesce(j.judgement.response_quality.score, 0) < 4 then 'response_quality below 4'
        when coalesce(j.judgement.faithfulness.score, 0) < 4 then 'faithfulness below 4'
        when coalesce(j.judgement.training_utility.score, 0) < 4 then 'training_utility below 4'
        when d.trace_digest.training_value is distinct from 'high'
            then 'training value ' || coalesce(d.trace_digest.training_value, 'missing')
    end as drop_reason,
    epoch(t.ended_at - t.started_at) as trace_seconds,
    coalesce(t.input_tokens, 0) + coalesce(t.output_tokens, 0)
        + coalesce(t.cache_read_tokens, 0) + coalesce(t.cache_write_tokens, 0) as trace_tokens,
    d.llm_request_hash as digest_request_hash,
    r.llm_request_hash as record_request_hash,
    j.llm_request_hash as judgement_request_hash,
    d.trace_digest,
    j.judgement
from {{ ref('traces') }} as t
left join {{ ref('trace_digests') }} as d using (trace_key)
left join {{ ref('sft_records') }} as r using (trace_key)
left join {{ ref('sft_judgements') }} as j using (trace_key)
