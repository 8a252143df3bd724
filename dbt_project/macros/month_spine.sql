{#- Every month from `first_month` (a SQL expression) to the night's month, one row each as
    month_start, whether or not any row of data falls in it: monthly facts built on it have
    no gaps where nothing happened. -#}
{% macro month_spine(first_month) -%}
    select spine.month_start::date as month_start
    from generate_series(
        ({{ first_month }}),
        date_trunc('month', {{ as_of_date() }}),
        interval '1 month'
    ) as spine (month_start)
{%- endmacro %}
