// Package all registers every driver pandav has, as rclone's backend/all
// does for its backends: a program that opens mounts by driver name
// imports it for its side effects, and a new driver joins here once.
package all

import (
	// Each driver registers itself from init (drivers.Register).
	_ "pandav/drivers/aliyun"
	_ "pandav/drivers/memdrive"
	_ "pandav/drivers/pan115"
	_ "pandav/drivers/strm"
)
