{#- Raw tables keep every restatement of a key, from every file loaded so far; staging wants
    the latest one as of the night being built: the row from the newest file dated up to that
    night, and the last line of that file. Files dated after the night are ignored, so a
    rerun or backfill of an earlier night sees exactly what that night saw. `since` narrows
    the files read to those dated on or after it (incremental models read only their window). -#}
{% macro latest_version(relation, key, since=none) -%}
    select distinct on ({{ key }}) *
    from {{ relation }}
    where
        _logical_date <= {{ as_of_date() }}
    {%- if since is not none %}
        and _logical_date >= {{ since }}
    {%- endif %}
    order by {{ key }}, _logical_date desc, _line desc
{%- endmacro %}
