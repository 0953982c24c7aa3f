-- Events and visitors per marketing channel per day, bots left out. An event archived twice
-- (a batch written again) counts once: events are counted by messageId.
SELECT
  dt AS day,
  coalesce(channel, 'unknown') AS channel,
  count(DISTINCT messageId) AS events,
  count(DISTINCT anonymousId) AS visitors
FROM events
WHERE NOT isBot
GROUP BY 1, 2
ORDER BY 1, 2
