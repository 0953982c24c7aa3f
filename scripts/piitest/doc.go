// Package piitest holds the end-to-end test of personal data: events carrying it where it hides
// (traits in any case, nested objects, context.traits, properties, a page URL) go through the real
// collect and stitch bootstraps on the local stack, and the test reads what actually landed on the
// stream, in the tables, on the queues and in the functions' logs.
package piitest
