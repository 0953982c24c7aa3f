-- Customers (profiles that ordered at least once) by the channel that first brought them, from
-- the latest profiles snapshot: how many, their orders and revenue. acquisitionChannel is the
-- profile's first touch; a profile without one (imported before any visit) is 'unknown'.
SELECT
  coalesce(acquisitionChannel, 'unknown') AS acquisition_channel,
  count(*) AS customers,
  sum(orderCount) AS orders,
  round(sum(revenue), 2) AS revenue
FROM profiles
WHERE dt = (SELECT max(dt) FROM profiles)
  AND orderCount > 0
GROUP BY 1
ORDER BY customers DESC, acquisition_channel
