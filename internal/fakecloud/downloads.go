package fakecloud

import "time"

// CloudDownloads is a Cloud whose accounts have a cloud-download service
// (115's 云下载): the cloud fetches links and torrents by itself, over
// time, into the drive. Its emulator runs each task through the cloud's
// lifecycle on a clock of its own, which a test speeds up, stops and
// steps, so that tests are fast and deterministic.
type CloudDownloads interface {
	// WatchMountOptions, added to MountOptions, make folders (paths from
	// the mount's root) watch folders, where a .torrent, .magnet, .ed2k or
	// .links file put becomes tasks.
	WatchMountOptions(folders ...string) map[string]any
	// SetDownloadSpeed sets how fast the tasks' clock runs against real
	// time: 1 is real time, 0 stops it (then only AdvanceDownloads moves
	// it).
	SetDownloadSpeed(factor float64)
	// AdvanceDownloads moves the tasks' clock on by d at once.
	AdvanceDownloads(d time.Duration)
	// DownloadTime is how long a task takes on that clock, from added to
	// done.
	DownloadTime() time.Duration
	// SetDownloadQuota sets how many more tasks the account may add.
	SetDownloadQuota(left int)
	// DownloadQuota is how many tasks the account has added, and may
	// still add.
	DownloadQuota() (used, left int)
	// FailDownloads makes the tasks of the links match accepts fail, as
	// the cloud's magnets often do; nil restores the emulator's own rule.
	FailDownloads(match func(link string) bool)
}
