//go:build !linux

package main

import (
	"errors"
	"os"
)

// The image is Linux; elsewhere `pandav entrypoint` runs the command as
// the user who started it, and refuses to start as root.
const canDropPrivileges = false

func dropPrivileges(uid, gid int) error {
	return errors.New("switching users is implemented for Linux only")
}

func ownedBy(info os.FileInfo, uid, gid int) bool { return false }

func ownerOf(info os.FileInfo) int { return -1 }
