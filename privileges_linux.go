package main

import (
	"fmt"
	"os"
	"syscall"
)

// canDropPrivileges: dropPrivileges works on this system.
const canDropPrivileges = true

// dropPrivileges makes the whole process (every thread) uid:gid with no
// supplementary groups, for good: the saved ids change too.
func dropPrivileges(uid, gid int) error {
	if err := syscall.Setgroups(nil); err != nil {
		return fmt.Errorf("setgroups: %w", err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("setgid: %w", err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("setuid: %w", err)
	}
	if os.Getuid() != uid || os.Geteuid() != uid || os.Getgid() != gid || os.Getegid() != gid {
		return fmt.Errorf("still uid %d, gid %d", os.Geteuid(), os.Getegid())
	}
	return nil
}

// ownedBy says whether info's file belongs to uid:gid already.
func ownedBy(info os.FileInfo, uid, gid int) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == uid && int(st.Gid) == gid
}

// ownerOf is the uid of info's file, or -1 when unknown.
func ownerOf(info os.FileInfo) int {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid)
	}
	return -1
}
