with source as (
    {{ latest_version(source('nps', 'responses'), 'response_id') }}
),

renamed as (
    select
        response_id,
        customer_id,
        user_id,
        role as respondent_role,
        score as nps_score,
        case
            when score >= {{ var('nps_promoter_min_score') | int }} then 'promoter'
            when score >= {{ var('nps_passive_min_score') | int }} then 'passive'
            else 'detractor'
        end as nps_category,
        comment as nps_comment,
        responded_at,
        responded_at::date as responded_date
    from source
)

select * from renamed
