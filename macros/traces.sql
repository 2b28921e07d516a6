{#- The trace reader call the project reads, from the trace_* vars. -#}
{% macro trace_source() -%}
  {%- set fmt = var('trace_format', 'auto') -%}
  {%- set path = var('trace_path', none) -%}
  {%- if path is none and fmt == 'auto' -%}{%- set path = 'examples/traces' -%}{%- endif -%}
  {%- set args = {} -%}
  {%- if path is not none -%}{%- do args.update({'path': project_path(path)}) -%}{%- endif -%}
  {%- for name, key in [('file_pattern', 'file_pattern'), ('max_traces', 'num_records'), ('shuffle', 'shuffle'),
                         ('seed', 'seed'), ('partition_index', 'partition_index'),
                         ('partition_count', 'partition_count')] -%}
    {%- if var(key, none) is not none -%}{%- do args.update({name: var(key)}) -%}{%- endif -%}
  {%- endfor -%}
  {{ source('traces', fmt, **args) }}
{%- endmacro %}

{#- The text of a message (its non-empty text blocks), in plain SQL, so a view using it
    also opens outside tracesql (tracesql's own message_text() macro does the same). -#}
{% macro text_of(message_expr) -%}
  array_to_string(list_transform(list_filter(coalesce({{ message_expr }}.content, []), lambda b: coalesce(b.text, '') <> ''), lambda b: b.text), chr(10) || chr(10))
{%- endmacro %}

{#- A number from 0 to 2^28 - 1 computed from text, the same on every engine tracesql runs on
    (DuckDB's hash() and Spark's are different functions): seven hex digits of its md5. -#}
{% macro hash_number(expr) -%}
  ({%- for i in range(7) %}(strpos('0123456789abcdef', substr(md5({{ expr }}), {{ i + 1 }}, 1)) - 1) * {{ 16 ** (6 - i) }}{% if not loop.last %} + {% endif %}{% endfor -%})
{%- endmacro %}

{#- Text for a prompt, cut to `max_chars` (SQL; default: the max_prompt_chars var). Credentials
    are redacted before the cut (unless profiles.yml says secrets: {redact: false}): a key cut
    in half is no longer recognizable when the request itself is redacted. -#}
{% macro prompt_text(expr, max_chars=none) -%}
  left({% if secrets.redact %}redact({{ expr }}){% else %}{{ expr }}{% endif %}, {{ max_chars or var_literal('max_prompt_chars', 2000, type='int') }})
{%- endmacro %}

{#- A message cut down for a prompt: role, text, tool calls and tool results, each bounded. -#}
{% macro prompt_messages(messages_expr) -%}
  list_transform({{ messages_expr }}, lambda m: {
    'role': m.role,
    'text': {{ prompt_text('message_text(m)') }},
    'tool_calls': list_transform(coalesce(m.tool_calls, []), lambda c: c.function.name || '(' || {{ prompt_text('c.function.arguments', 200) }} || ')'),
    'tool_call_id': m.tool_call_id
  })
{%- endmacro %}

{#- A fingerprint of everything that determines an LLM column's answers (prompt, schema,
    model alias and its settings). Rows whose fingerprint differs are recomputed. -#}
{% macro llm_fingerprint(parts) -%}
  '{{ fingerprint(parts, llm_model_settings(var('llm_model', 'distill'))) }}'
{%- endmacro %}

{#- Each LLM model's row outcome, the column the materializations read (a failed value
    keeps the row's previous one): 'skipped' (no call was needed: skip_reason says why),
    'ok', or 'failed' (the reason joins from llm_calls on llm_request_hash, final). -#}
{% macro llm_status(response, skip_reason) -%}
  case when {{ skip_reason }} is not null then 'skipped'
       when {{ response }}.error is null and {{ response }}.value is not null then 'ok'
       else 'failed' end
{%- endmacro %}
