// Sends a short visit through Segment's Node.js SDK (@segment/analytics-node), unchanged, to the
// endpoint in DCRM_API_URL, then flushes and prints one JSON line: the HTTP statuses the SDK got
// and any errors it reported. Exits 1 if an event was not delivered.
//
// Environment: DCRM_API_URL, DCRM_WRITE_KEY, SDKTEST_ANONYMOUS_ID, SDKTEST_USER_ID,
// SDKTEST_NAME (the name trait the login sets).
import { Analytics } from '@segment/analytics-node'

const env = (name) => {
  const v = process.env[name]
  if (!v) {
    console.error(`send.mjs: ${name} is not set`)
    process.exit(2)
  }
  return v
}

const host = env('DCRM_API_URL')
const writeKey = env('DCRM_WRITE_KEY')
const anonymousId = env('SDKTEST_ANONYMOUS_ID')
const userId = env('SDKTEST_USER_ID')
const name = env('SDKTEST_NAME')

const analytics = new Analytics({
  writeKey,
  host,
  maxEventsInBatch: 2, // several requests to /v1/batch, not one
  flushInterval: 200,
  maxRetries: 2,
})

const statuses = []
const errors = []
analytics.on('http_response', (r) => statuses.push(r.status))
analytics.on('error', (err) => errors.push(String(err?.reason ?? err?.message ?? err)))

analytics.page({ anonymousId, name: 'Home', properties: { path: '/', url: 'https://shop.example/' } })
analytics.track({ anonymousId, event: 'Product Viewed', properties: { product_id: 'red-shoes', price: 59 } })
analytics.identify({ anonymousId, userId, traits: { name, plan: 'member' } })
analytics.track({ userId, event: 'Order Completed', properties: { order_id: `o-${userId}`, revenue: 59 } })

await analytics.closeAndFlush({ timeout: 20000 })
console.log(JSON.stringify({ statuses, errors }))
process.exit(errors.length === 0 && statuses.length > 0 && statuses.every((s) => s === 200) ? 0 : 1)
