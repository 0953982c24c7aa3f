-- Orders and revenue per month, online against offline. An order is an 'Order Completed' event,
-- counted once by its order_id; it is offline when its properties name a store
-- (properties.store) or an offline channel (properties.channel 'store' or 'offline'), as
-- imported store orders do; revenue is properties.revenue, else properties.total.
WITH orders AS (
  SELECT
    substr(dt, 1, 7) AS month,
    CASE
      WHEN json_extract_scalar(properties, '$.store') IS NOT NULL
        OR json_extract_scalar(properties, '$.channel') IN ('store', 'offline') THEN 'offline'
      ELSE 'online'
    END AS channel,
    coalesce(json_extract_scalar(properties, '$.order_id'), messageId) AS order_id,
    max(CAST(coalesce(json_extract_scalar(properties, '$.revenue'), json_extract_scalar(properties, '$.total')) AS double)) AS revenue
  FROM events
  WHERE type = 'track' AND event = 'Order Completed'
  GROUP BY 1, 2, 3
)
SELECT month, channel, count(*) AS orders, round(sum(revenue), 2) AS revenue
FROM orders
GROUP BY 1, 2
ORDER BY 1, 2
