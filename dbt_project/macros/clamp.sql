{#- Bound a score to 0..100 so no component can push the weighted total out of range. NULL
    (no data) stays NULL: PostgreSQL's greatest() and least() would quietly turn it into 0. -#}
{% macro clamp_score(expression) -%}
    case when ({{ expression }}) is not null then least(100.0, greatest(0.0, {{ expression }})) end
{%- endmacro %}
