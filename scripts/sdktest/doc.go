// Package sdktest holds end-to-end tests that drive the local stack with tracking clients the project
// did not write: Segment's Go SDK (github.com/segmentio/analytics-go/v3), Segment's Node.js SDK
// (npm @segment/analytics-node) and RudderStack's Node.js SDK (npm @rudderstack/rudder-sdk-node,
// which gzips its requests). The npm packages are pinned in package.json and package-lock.json and
// installed by `make node-deps`. Each client sends a short visit through the real endpoint, and the
// tests read the result back through the profile API.
package sdktest
