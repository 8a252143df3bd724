{#- A generic test: a score stays within 0–100. -#}
{% test accepted_range_0_100(model, column_name) %}
    select {{ column_name }}
    from {{ model }}
    where {{ column_name }} < 0 or {{ column_name }} > 100
{% endtest %}
