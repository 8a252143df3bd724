{#- The first day an incremental model rebuilds tonight: the late-data lookback before the
    night, or the day after the model's newest row when nights were skipped, or the night's
    `reprocess_from` when the pipeline loaded files for older dates — whichever is earliest.
    With `fingerprint` (SQL for a value the rows were computed from, kept in their
    `scoring_fingerprint` column), its oldest day when a row up to the night has another
    fingerprint, so every row is computed again. None on a full build, so the model
    rebuilds its whole history. -#}
{% macro incremental_window_start(date_column, fingerprint=none) -%}
    {%- if not execute or not is_incremental() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set window_start -%}
        least(max({{ date_column }}) + 1, {{ late_data_window_start() }})
    {%- endset -%}
    {%- set query -%}
        select
        {%- if fingerprint is none %} {{ window_start }}
        {%- else %}
            case
                when bool_or(scoring_fingerprint is distinct from {{ fingerprint }})
                    filter (where {{ date_column }} <= {{ as_of_date() }})
                    then least(min({{ date_column }}), {{ late_data_window_start() }})
                else {{ window_start }}
            end
        {%- endif %}
        from {{ this }}
    {%- endset -%}
    {{ return(run_query(query).columns[0].values()[0]) }}
{%- endmacro %}

{#- incremental_window_start as a SQL date: '-infinity' on a full build. -#}
{% macro incremental_first_day(date_column, fingerprint=none) -%}
    {%- set window_start = incremental_window_start(date_column, fingerprint) -%}
    {{ "date '-infinity'" if window_start is none else "date '" ~ window_start ~ "'" }}
{%- endmacro %}

{#- The first day every night rebuilds, as SQL: the late-data lookback before the night, or
    the night's `reprocess_from` when the pipeline loaded files for older dates. -#}
{% macro late_data_window_start() -%}
    {%- set candidates = [as_of_date() ~ " - " ~ var("late_data_lookback_days")] -%}
    {%- set reprocess_from = night_setting("reprocess_from") -%}
    {%- if reprocess_from -%}
        {%- do candidates.append(date_literal(reprocess_from)) -%}
    {%- endif -%}
    least({{ candidates | join(", ") }})
{%- endmacro %}

{#- Pre-hook of the incremental models: remove the window about to be rebuilt, in the same
    transaction as the insert, so a rerun of a night replaces its rows instead of adding. -#}
{% macro delete_incremental_window(date_column, fingerprint=none) -%}
    {{ delete_window(date_column, incremental_window_start(date_column, fingerprint)) }}
{%- endmacro %}

{#- The delete itself, for a hook that needs the window start for more than this (a hook
    is rendered after the hooks before it ran, which changes what a second look finds). -#}
{% macro delete_window(date_column, window_start) -%}
    {%- if window_start is not none -%}
        delete from {{ this }}
        where {{ date_column }} between date '{{ window_start }}' and {{ as_of_date() }}
    {%- endif -%}
{%- endmacro %}

{#- Pre-hook of the nightly logs (one row per night, nothing to recompute for past nights):
    remove the night being built, in the same transaction as the insert, so a rerun of a
    night replaces its rows. Earlier and later nights are never touched: their rows are what
    those nights published and cannot be computed again. -#}
{% macro delete_night(date_column) -%}
    {%- if execute and is_incremental() -%}
        delete from {{ this }}
        where {{ date_column }} = {{ as_of_date() }}
    {%- endif -%}
{%- endmacro %}
