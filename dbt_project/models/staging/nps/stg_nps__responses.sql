with source as (
    select distinct on (response_id) *
    from {{ source('nps', 'responses') }}
    order by response_id asc, _logical_date desc, _line desc
),

renamed as (
    select
        response_id,
        customer_id,
        user_id,
        role as respondent_role,
        score as nps_score,
        case
            when score >= 9 then 'promoter'
            when score >= 7 then 'passive'
            else 'detractor'
        end as nps_category,
        comment as nps_comment,
        responded_at,
        responded_at::date as responded_date
    from source
)

select * from renamed
