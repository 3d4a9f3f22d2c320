// Package fakecloud is the storage and fault machinery shared by the cloud
// emulators (drivers/aliyun/aliyuntest, drivers/pan115/pan115test): an
// ID-based tree of folders and blobs, lazily generated content, a CDN that
// serves byte ranges, fault knobs and per-endpoint call counters.
//
// It knows nothing of any cloud's API. Each emulator wraps it with its own
// endpoints, JSON shapes and quirks.
package fakecloud
