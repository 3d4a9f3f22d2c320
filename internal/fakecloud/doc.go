// Package fakecloud is the storage and fault machinery shared by the cloud
// emulators (drivers/aliyun/aliyuntest, drivers/pan115/pan115test): an
// ID-based tree of folders and blobs, lazily generated content, a CDN that
// serves byte ranges, fault knobs and per-endpoint call counters, and
// Logins, single-use rotating tokens. Cloud is what every emulator offers
// the harnesses that treat all clouds alike (cloud.go).
//
// It knows nothing of any cloud's API. Each emulator wraps it with its own
// endpoints, JSON shapes and quirks.
package fakecloud
