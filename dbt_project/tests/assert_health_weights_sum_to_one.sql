-- The weighted health total is only 0..100 when the weights sum to exactly 1.
select sum(weight) as total_weight
from {{ ref('health_score_weights') }}
having abs(sum(weight) - 1) > 0.000001
