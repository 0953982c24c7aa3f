// Package console holds the console's browser tests: headless Chromium drives every page against
// the local stack's real functions, signs in through the local user pool, and keeps screenshots
// (in bin/screenshots, or the folder DCRM_SCREENSHOTS names). The console itself is functions/profiles/console.
package console
