// Sends the same short visit as send.mjs through RudderStack's Node.js SDK
// (@rudderstack/rudder-sdk-node), unchanged: it speaks the Segment Tracking API (POST /v1/batch,
// write key as the basic-auth user name) and gzips every request body by default. Prints one JSON
// line: the HTTP statuses, the Content-Encoding of each request and any errors. Exits 1 if an event
// was not delivered.
//
// Environment: as send.mjs.
import Analytics from '@rudderstack/rudder-sdk-node'

const env = (name) => {
  const v = process.env[name]
  if (!v) {
    console.error(`send-rudderstack.mjs: ${name} is not set`)
    process.exit(2)
  }
  return v
}

const host = env('DCRM_API_URL')
const writeKey = env('DCRM_WRITE_KEY')
const anonymousId = env('SDKTEST_ANONYMOUS_ID')
const userId = env('SDKTEST_USER_ID')
const name = env('SDKTEST_NAME')

const client = new Analytics(writeKey, {
  dataPlaneUrl: host,
  flushAt: 2, // several requests to /v1/batch, not one
  flushInterval: 200,
  retryCount: 2,
  logLevel: 'error',
})

// Observe, without changing, what the SDK puts on the wire.
const statuses = []
const encodings = []
const errors = []
client.axiosInstance.interceptors.request.use((config) => {
  encodings.push(config.headers['Content-Encoding'] ?? 'identity')
  return config
})
client.axiosInstance.interceptors.response.use(
  (resp) => {
    statuses.push(resp.status)
    return resp
  },
  (err) => {
    statuses.push(err.response?.status ?? 0)
    return Promise.reject(err)
  },
)

// The SDK's own flushes reject when a request fails; record that rather than crash.
process.on('unhandledRejection', (err) => errors.push(`flush: ${err?.message ?? err}`))

const delivered = (call, message) =>
  new Promise((resolve) => {
    client[call](message, (err) => {
      if (err) errors.push(`${call}: ${err.message ?? err}`)
      resolve()
    })
  })

const sent = [
  delivered('page', { anonymousId, name: 'Home', properties: { path: '/', url: 'https://shop.example/' } }),
  delivered('track', { anonymousId, event: 'Product Viewed', properties: { product_id: 'red-shoes', price: 59 } }),
  delivered('identify', { anonymousId, userId, traits: { name, plan: 'member' } }),
  delivered('track', { userId, event: 'Order Completed', properties: { order_id: `o-${userId}`, revenue: 59 } }),
]
await client.flush().catch((err) => errors.push(`flush: ${err.message ?? err}`))
await Promise.all(sent)
console.log(JSON.stringify({ statuses, encodings, errors }))
process.exit(errors.length === 0 && statuses.length > 0 && statuses.every((s) => s === 200) ? 0 : 1)
