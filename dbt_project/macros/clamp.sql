{#- Bound a score to 0..100 so no component can push the weighted total out of range. -#}
{% macro clamp_score(expression) -%}
    least(100.0, greatest(0.0, {{ expression }}))
{%- endmacro %}
