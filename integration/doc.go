// Package integration holds pandav's end-to-end tests. They build the real
// binary, start it against the in-repo cloud emulators on loopback, and
// drive it with real clients: rclone, curl, ffprobe and ffmpeg.
//
// A missing client skips its test, except under CI (the CI environment
// variable set), where it fails: .ci/run installs them.
package integration
