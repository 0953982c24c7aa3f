-- The e-commerce funnel: people who viewed a product, then added one to the basket, then started
-- a checkout, then completed an order (Segment e-commerce spec event names), each step after the
-- previous one. People are profiles, resolved through the latest merges snapshot, so that
-- profiles merged after their events were archived count as one person.
WITH merged AS (
  SELECT mergedId, profileId FROM merges WHERE dt = (SELECT max(dt) FROM merges)
),
steps AS (
  SELECT
    coalesce(m.profileId, e.profileId) AS person,
    min(CASE WHEN e.event = 'Product Viewed' THEN e."timestamp" END) AS viewed,
    min(CASE WHEN e.event = 'Product Added' THEN e."timestamp" END) AS added,
    min(CASE WHEN e.event = 'Checkout Started' THEN e."timestamp" END) AS checkout,
    max(CASE WHEN e.event = 'Order Completed' THEN e."timestamp" END) AS ordered
  FROM events e
  LEFT JOIN merged m ON m.mergedId = e.profileId
  WHERE e.type = 'track'
    AND e.event IN ('Product Viewed', 'Product Added', 'Checkout Started', 'Order Completed')
    AND e.profileId IS NOT NULL
    AND NOT e.isBot
  GROUP BY 1
)
SELECT
  count(viewed) AS product_viewed,
  count(CASE WHEN added >= viewed THEN 1 END) AS product_added,
  count(CASE WHEN added >= viewed AND checkout >= added THEN 1 END) AS checkout_started,
  count(CASE WHEN added >= viewed AND checkout >= added AND ordered >= checkout THEN 1 END) AS order_completed
FROM steps
