{#- A subscription item counts on a day from its start date up to, not including, its end
    date (no end date: still running). The one definition of "active" every model uses. -#}
{% macro item_active_on(day, items='items') -%}
    ({{ items }}.start_date <= {{ day }} and ({{ items }}.end_date is null or {{ items }}.end_date > {{ day }}))
{%- endmacro %}
